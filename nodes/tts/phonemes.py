"""Phoneme timings: from a backend's alignments to the spans carried by each bus chunk.

A span says which phoneme sounds from which sample (relative to the audio it belongs to) and
for how many samples. Piper gives sample counts per phoneme; espeak-ng gives the sample at
which each phoneme starts. Both become spans, and spans are cut to fit each chunk sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["PhonemeSpan", "spans_from_counts", "spans_from_starts", "window"]


@dataclass(frozen=True)
class PhonemeSpan:
    """``phoneme`` sounds from ``start`` for ``samples`` samples."""

    phoneme: str
    start: int
    samples: int

    @property
    def end(self) -> int:
        return self.start + self.samples


def spans_from_counts(phonemes: Sequence[str], counts: Sequence[int]) -> list[PhonemeSpan]:
    """Spans from consecutive per-phoneme sample counts (Piper's alignments).

    Phonemes that last no samples are left out; the positions still add up.
    """
    if len(phonemes) != len(counts):
        raise ValueError(f"{len(phonemes)} phonemes but {len(counts)} sample counts")
    spans = []
    position = 0
    for phoneme, count in zip(phonemes, counts, strict=True):
        if count > 0:
            spans.append(PhonemeSpan(phoneme, position, int(count)))
        position += int(count)
    return spans


def spans_from_starts(starts: Iterable[tuple[str, int]], end: int) -> list[PhonemeSpan]:
    """Spans from (phoneme, start sample) events (espeak-ng): each lasts until the next starts,
    the last one until ``end``. Events must come in order of their start."""
    events = list(starts)
    spans = []
    for i, (phoneme, start) in enumerate(events):
        stop = events[i + 1][1] if i + 1 < len(events) else end
        if stop < start:
            raise ValueError(f"phoneme events out of order: {phoneme!r} at {start}, next at {stop}")
        if stop > start:
            spans.append(PhonemeSpan(phoneme, start, stop - start))
    return spans


def window(spans: Iterable[PhonemeSpan], start: int, end: int) -> list[PhonemeSpan]:
    """The part of ``spans`` inside samples ``[start, end)``, relative to ``start``.

    A phoneme that crosses a boundary appears, clipped, in both windows, so a lip-sync
    consumer never sees a gap.
    """
    inside = []
    for span in spans:
        lo, hi = max(span.start, start), min(span.end, end)
        if hi > lo:
            inside.append(PhonemeSpan(span.phoneme, lo - start, hi - lo))
    return inside
