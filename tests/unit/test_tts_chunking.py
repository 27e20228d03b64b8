"""Cutting sentences into pieces and audio into chunks."""

from __future__ import annotations

import pytest

from nodes.tts.chunking import chunk_ranges, split_text

LONG = ("Well, I have been thinking about this for a while, and honestly the answer is not "
        "simple; it depends on what you mean by fun, who you ask, and when.")


class TestSplitText:
    @pytest.mark.parametrize(
        ("text", "max_chars", "first", "expected"),
        [
            # short text stays whole
            ("Hello there.", 50, 0, ["Hello there."]),
            # whitespace is normalised
            ("  Hello \n  there. ", 50, 0, ["Hello there."]),
            # cut after the last comma that fits
            ("One two three, four five six, seven.", 30, 0,
             ["One two three, four five six,", "seven."]),
            # no punctuation: cut at the last space
            ("aaa bbb ccc ddd", 8, 0, ["aaa bbb", "ccc ddd"]),
            # a word longer than the limit is kept whole
            ("supercalifragilistic is long", 5, 0, ["supercalifragilistic", "is", "long"]),
            # the first piece has its own, shorter limit
            ("One two, three four five six seven eight.", 40, 10,
             ["One two,", "three four five six seven eight."]),
            # empty text gives no pieces
            ("   ", 10, 0, []),
        ],
    )
    def test_pieces(self, text: str, max_chars: int, first: int, expected: list[str]) -> None:
        assert split_text(text, max_chars, first) == expected

    def test_long_sentence_keeps_every_word_in_order(self) -> None:
        pieces = split_text(LONG, 40, 20)
        assert " ".join(pieces).split() == LONG.split()
        assert len(pieces[0]) <= 20
        assert all(len(p) <= 40 for p in pieces)

    def test_clause_boundary_preferred_over_space(self) -> None:
        pieces = split_text(LONG, 60)
        assert pieces[0].endswith(",")

    def test_bad_limit(self) -> None:
        with pytest.raises(ValueError, match="max_chars must be positive"):
            split_text("x", 0)


class TestChunkRanges:
    @pytest.mark.parametrize(
        ("total", "chunk", "expected"),
        [
            (10, 4, [(0, 4), (4, 8), (8, 10)]),  # a short tail
            (8, 4, [(0, 4), (4, 8)]),  # exact
            (0, 4, []),  # nothing
            (3, 10, [(0, 3)]),  # smaller than a chunk
        ],
    )
    def test_ranges(self, total: int, chunk: int, expected: list[tuple[int, int]]) -> None:
        assert chunk_ranges(total, chunk) == expected

    def test_bad_chunk(self) -> None:
        with pytest.raises(ValueError, match="chunk must be positive"):
            chunk_ranges(10, 0)
