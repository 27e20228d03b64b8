"""The playhead maths: what is audible at a given moment."""

from __future__ import annotations

from nodes.speaker.queue import Segment
from nodes.speaker.timeline import Timeline

RATE = 1000
MS = 1_000_000


def segment(offset: int, frames: int, sentence: int, start: int, ends: str = "") -> Segment:
    """A segment of a 2 kHz sentence played at 1 kHz, ``start`` output frames in."""
    return Segment(offset, frames, "a", "r", sentence, start, 2 * RATE, RATE, "text",
                   ends)  # type: ignore[arg-type]


class TestTimeline:
    def test_position_now_is_corrected_by_the_audible_time(self) -> None:
        timeline = Timeline(RATE)
        timeline.add(1000 * MS, [segment(0, 100, 0, 0)])  # heard from t = 1 s
        assert timeline.poll(999 * MS) == []  # handed to the device, not heard yet
        (heard,) = timeline.poll(1050 * MS)
        assert (heard.state, heard.sample, heard.sample_rate) == ("playing", 100, 2 * RATE)
        assert heard.audible_ns == 1050 * MS

    def test_finished_then_idle(self) -> None:
        timeline = Timeline(RATE)
        timeline.add(0, [segment(0, 10, 0, 0, "finished"), segment(10, 10, 1, 0)])
        first = timeline.poll(15 * MS)
        assert [(h.state, h.sentence_index, h.sample) for h in first] == [
            ("finished", 0, 20), ("playing", 1, 10)]
        assert first[0].audible_ns == 10 * MS  # when its last sample was heard
        assert [h.state for h in timeline.poll(30 * MS)] == ["idle"]
        assert timeline.poll(40 * MS) == []  # idle is said once

    def test_cut(self) -> None:
        timeline = Timeline(RATE)
        timeline.add(0, [segment(0, 5, 0, 40, "cut")])
        (heard,) = [h for h in timeline.poll(10 * MS) if h.state == "cut"]
        assert heard.sample == 90

    def test_blocks_with_offsets(self) -> None:
        timeline = Timeline(RATE)
        timeline.add(0, [segment(0, 10, 0, 0)])
        timeline.add(10 * MS, [segment(0, 10, 0, 10)])
        (heard,) = timeline.poll(15 * MS)
        assert heard.sample == 30
