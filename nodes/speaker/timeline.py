"""The playhead maths: which sentence sample is audible at a given moment.

The output reports, for every block it hands to the device, when the block's first frame will
be heard (``audible_ns``, from the device's own DAC time, so the device latency is included).
The timeline keeps those stretches and answers "what is audible now" for the playhead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from nodes.speaker.queue import Segment

__all__ = ["Heard", "Timeline"]


@dataclass(frozen=True)
class Heard:
    """One playhead report: ``sample`` of a sentence heard at ``audible_ns``."""

    persona: str
    request_id: str
    sentence_index: int
    sample: int
    sample_rate: int
    state: Literal["playing", "finished", "cut", "idle"]
    text: str
    audible_ns: int


@dataclass(frozen=True)
class _Stretch:
    start_ns: int
    end_ns: int
    segment: Segment


class Timeline:
    """Stretches of sentences by the time they are heard."""

    def __init__(self, output_rate: int):
        self.output_rate = output_rate
        self._stretches: deque[_Stretch] = deque()
        self._active = False

    def add(self, audible_ns: int, segments: list[Segment]) -> None:
        """Record a block whose first frame is heard at ``audible_ns``."""
        for segment in segments:
            start = audible_ns + self._ns(segment.offset)
            self._stretches.append(_Stretch(start, start + self._ns(segment.frames), segment))

    def poll(self, now_ns: int) -> list[Heard]:
        """What to report at ``now_ns``: each sentence that ended by now (``finished`` or
        ``cut``), then the position of the sentence heard now, or ``idle`` once after the
        last sound ends."""
        reports: list[Heard] = []
        while self._stretches and self._stretches[0].end_ns <= now_ns:
            stretch = self._stretches.popleft()
            segment = stretch.segment
            if segment.ends:
                reports.append(self._heard(segment, segment.source_at(segment.frames),
                                           segment.ends, stretch.end_ns))
        if self._stretches and self._stretches[0].start_ns <= now_ns:
            stretch = self._stretches[0]
            frame = (now_ns - stretch.start_ns) * self.output_rate // 1_000_000_000
            reports.append(self._heard(stretch.segment, stretch.segment.source_at(int(frame)),
                                       "playing", now_ns))
            self._active = True
        elif not self._stretches and self._active:
            self._active = False
            reports.append(Heard("", "", -1, 0, self.output_rate, "idle", "", now_ns))
        return reports

    def _ns(self, frames: int) -> int:
        return frames * 1_000_000_000 // self.output_rate

    @staticmethod
    def _heard(segment: Segment, sample: int, state: Literal["playing", "finished", "cut"],
               at_ns: int) -> Heard:
        return Heard(segment.persona, segment.request_id, segment.sentence_index, sample,
                     segment.source_rate, state, segment.text, at_ns)
