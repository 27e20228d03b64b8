"""Word error rate and overlap on normalised words."""

from __future__ import annotations

import pytest

from nodes.stt.text import normalise, overlap, sounds_finished, word_error_rate


class TestNormalise:
    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("Hello, World!", ["hello", "world"]),  # case and punctuation go
            ("It's a well-known game.", ["it's", "a", "well", "known", "game"]),
            ("Level 3 of 10", ["level", "three", "of", "ten"]),  # Whisper writes either
            ("  ...  ", []),
        ],
    )
    def test_words(self, text: str, words: list[str]) -> None:
        assert normalise(text) == words


class TestWordErrorRate:
    @pytest.mark.parametrize(
        ("reference", "hypothesis", "wer"),
        [
            ("the cat sat", "The cat sat.", 0.0),
            ("the cat sat", "the cat sat down", 1 / 3),  # one insertion
            ("the cat sat", "the sat", 1 / 3),  # one deletion
            ("the cat sat", "the dog sat", 1 / 3),  # one substitution
            ("the cat sat", "", 1.0),
            ("", "", 0.0),
            ("", "noise", 1.0),
            ("a b", "c d e f", 2.0),  # can exceed 1
        ],
    )
    def test_rate(self, reference: str, hypothesis: str, wer: float) -> None:
        assert word_error_rate(reference, hypothesis) == pytest.approx(wer)


class TestOverlap:
    @pytest.mark.parametrize(
        ("text", "references", "share"),
        [
            ("tell me which level", ["Chat, tell me which level you want."], 1.0),
            ("wait stop tell me", ["Chat, tell me which level you want."], 0.5),
            ("", ["anything"], 0.0),
            ("words", [], 0.0),
        ],
    )
    def test_share(self, text: str, references: list[str], share: float) -> None:
        assert overlap(text, references) == pytest.approx(share)


class TestSoundsFinished:
    @pytest.mark.parametrize(("text", "finished"), [
        ("Which one of you forgot to water the plants?", True),
        ("My cousin just adopted a tiny grey kitten.", True),
        ("No way!", True),
        ("We ran out of coffee again, so", False),        # no closing mark
        ("My cousin just adopted a tiny break-it and...", False),  # trailing off
        ("I went to the shop and.", False),                # a word that leads on
        ("Um.", False),
        ("", False),
        ("...", False),
    ])
    def test_a_turn_reads_finished_only_on_a_closing_mark_after_a_full_word(
            self, text: str, finished: bool) -> None:
        assert sounds_finished(text) is finished
