"""Phoneme spans from Piper counts and espeak-ng events, and cut to chunk windows."""

from __future__ import annotations

import pytest

from nodes.tts.phonemes import PhonemeSpan, spans_from_counts, spans_from_starts, window


class TestSpansFromCounts:
    def test_consecutive(self) -> None:
        assert spans_from_counts(["^", "h", "i"], [100, 0, 50]) == [
            PhonemeSpan("^", 0, 100), PhonemeSpan("i", 100, 50),  # "h" lasted no samples
        ]

    def test_mismatch(self) -> None:
        with pytest.raises(ValueError, match="2 phonemes but 1 sample counts"):
            spans_from_counts(["a", "b"], [1])


class TestSpansFromStarts:
    def test_each_lasts_until_the_next(self) -> None:
        assert spans_from_starts([("h", 10), ("@", 30), ("l", 30)], 50) == [
            PhonemeSpan("h", 10, 20), PhonemeSpan("l", 30, 20),  # "@" lasted nothing
        ]

    def test_out_of_order(self) -> None:
        with pytest.raises(ValueError, match="out of order"):
            spans_from_starts([("a", 30), ("b", 10)], 50)


class TestWindow:
    SPANS = [PhonemeSpan("a", 0, 100), PhonemeSpan("b", 100, 100), PhonemeSpan("c", 200, 50)]

    @pytest.mark.parametrize(
        ("start", "end", "expected"),
        [
            # a span crossing the window's end is clipped
            (0, 150, [PhonemeSpan("a", 0, 100), PhonemeSpan("b", 100, 50)]),
            # ... and continues, relative, in the next window
            (150, 300, [PhonemeSpan("b", 0, 50), PhonemeSpan("c", 50, 50)]),
            # nothing inside
            (300, 400, []),
        ],
    )
    def test_window(self, start: int, end: int, expected: list[PhonemeSpan]) -> None:
        assert window(self.SPANS, start, end) == expected

    def test_windows_cover_every_sample_once(self) -> None:
        pieces = [window(self.SPANS, s, s + 64) for s in range(0, 250, 64)]
        assert sum(p.samples for piece in pieces for p in piece) == 250
