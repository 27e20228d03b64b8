"""The quality benchmark's scoring (benchmarks/show_quality.py), on sentences like those the
bundled model said in a show (issue 19), with no show running."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of scripts

from benchmarks.show_quality import (  # noqa: E402
    SCRIPT,
    Reply,
    Said,
    content_words,
    name_label,
    on_topic,
    repeated,
    score,
    self_name,
    stage_direction,
)


class TestFaults:
    @pytest.mark.parametrize(("text", "found"), [
        ("(smiling mischievously) Oh, you wish!", True),
        ("*giggles* Stop it.", True),
        ("[waves] Hi.", True),
        ("I lost again (sighs.", True),  # half a direction is still read out
        ("Oh, you wish!", False),
    ])
    def test_stage_directions(self, text: str, found: bool) -> None:
        assert stage_direction(text) is found

    @pytest.mark.parametrize(("text", "found"), [
        ("Mika: Hi there.", True),
        ("mike: Rook, what do you think?", True),
        ("Sure. Rook: no way.", True),
        ("The score was 3:1.", False),
        ("I told her: no.", False),  # a colon inside a sentence
    ])
    def test_name_labels(self, text: str, found: bool) -> None:
        assert name_label(text) is found

    def test_self_name(self) -> None:
        assert self_name("Mika here!", "mika") and self_name("I'm MIKA.", "mika")
        assert not self_name("Mikado is a game.", "mika")
        assert not self_name("Rook likes chess.", "mika")

    @pytest.mark.parametrize(("text", "found"), [
        ("What is your favourite game?", True),  # inside a recent line
        ("That's a game that's both exciting and challenging, and I'm glad you enjoyed it.",
         True),  # nearly a recent sentence
        ("I'm glad.", False),  # too short to mean it
        ("No, no, no!", True),  # short, but a recent sentence word for word
        ("No, no!", True),  # two words are enough, word for word
        ("Yes!", False),
        ("Chess is a game of patience and nerve.", False),
    ])
    def test_repeats(self, text: str, found: bool) -> None:
        recent = ["Hi Mika! What is your favourite game? No, no, no. No, no! Yes!",
                  "Chess! That's a game that's both fun and challenging, and I'm glad you "
                  "enjoyed it."]
        assert repeated(text, recent) is found


class TestOnTopic:
    def test_a_shared_content_word(self) -> None:
        assert on_topic("Cats are the best.", "Rook, cats or dogs?", None)

    def test_stop_words_and_names_do_not_count(self) -> None:
        assert content_words("Hi Mika, what do you think?", ["mika"]) == set()
        assert not on_topic("I think so, alice.", "alice: what do you think?", None,
                            ["alice"])

    def test_an_embedding_neighbour(self) -> None:
        def similarity(ours: set[str], theirs: set[str]) -> float:
            return 0.8 if ("kitten" in ours and "cat" in theirs) else 0.1

        assert on_topic("A kitten!", "I have a cat.", similarity)
        assert not on_topic("Pizza!", "I have a cat.", similarity)


def said(persona: str, stamp: int, *texts: tuple[str, str]) -> list[Said]:
    return [Said(f"r{stamp}", persona, i, text, emotion, stamp + i)
            for i, (text, emotion) in enumerate(texts)]


class TestScore:
    def test_the_figures_of_a_small_show(self) -> None:
        replies = [
            Reply("r10", "mika", "chat", said("mika", 10, ("Mika!", "neutral"),
                                              ("I love cats.", "happy")),
                  answers="Mika, cats or dogs?"),
            Reply("r20", "rook", "banter", said("rook", 20, ("Rook: I love cats.", "neutral"),
                                                ("(sighs) Dogs are loyal.", "sad")),
                  answers="Mika! I love cats."),
            Reply("r30", "mika", "topic", said("mika", 30, ("Dogs are loyal and warm.",
                                                            "neutral"))),
        ]
        figures, scored = score(replies, [(5, "Mika, cats or dogs?")])
        assert len(scored) == figures["sentences"] == 5
        assert figures["replies"] == 3
        assert figures["stage_directions_spoken_pct"] == 20.0
        assert figures["name_labels_spoken_pct"] == 20.0
        assert figures["self_name_pct"] == 40.0  # "Mika!", and Rook's own label
        assert figures["mika_self_name_pct"] == pytest.approx(100 / 3, abs=0.1)
        assert figures["repeated_pct"] == 0.0  # "I love cats." is 3 words
        assert figures["on_topic_pct"] == 100.0  # of the two that answer a line
        assert figures["emotion_nonneutral_pct"] == 40.0

    def test_a_copy_of_an_earlier_line_counts(self) -> None:
        replies = [Reply("r10", "mika", "chat", said("mika", 10, (
            "What is your favourite game today?", "neutral")), answers="x")]
        figures, _ = score(replies, [(5, "alice: what is your favourite game today?")])
        assert figures["repeated_pct"] == 100.0


def test_the_script_is_thirty_lines_from_viewers() -> None:
    assert len(SCRIPT) == 30 and len(set(SCRIPT)) == 30
    assert all(user and text for user, text in SCRIPT)
