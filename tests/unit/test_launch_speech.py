"""launch.speech: one terminal line per sentence, at its first audible playhead."""

from __future__ import annotations

from launch.speech import SpokenLines
from messages.audio import Playhead


def playhead(sentence: int, state: str = "playing", sample: int = 800, text: str = "Hi there.",
             request: str = "r1") -> Playhead:
    return Playhead(persona="mika", request_id=request, sentence_index=sentence, sample=sample,
                    sample_rate=22050, state=state, text=text)  # type: ignore[arg-type]


class TestSpokenLines:
    def test_each_sentence_once_as_it_becomes_audible(self) -> None:
        lines = SpokenLines()
        reports = [playhead(0), playhead(0, sample=4000), playhead(0, "finished"),
                   playhead(1, text="Second one."), playhead(1, "finished", text="Second one."),
                   Playhead(persona="", request_id="", sentence_index=-1, sample=0,
                            sample_rate=22050, state="idle")]
        shown = [lines.heard(report) for report in reports]
        assert [s for s in shown if s is not None] == [("mika", "Hi there."),
                                                       ("mika", "Second one.")]
        assert shown[0] == ("mika", "Hi there.")  # at its first report, not at the end

    def test_a_sentence_cut_before_a_sample_was_heard_is_not_shown(self) -> None:
        lines = SpokenLines()
        assert lines.heard(playhead(2, "cut", sample=0)) is None
        assert lines.heard(playhead(2)) is None  # a late report of the same sentence
        assert lines.heard(playhead(3, "cut", sample=100)) == ("mika", "Hi there.")

    def test_empty_text_is_not_a_line(self) -> None:
        assert SpokenLines().heard(playhead(0, text="  ")) is None

    def test_the_table_is_bounded(self) -> None:
        lines = SpokenLines(remembered=3)
        for index in range(10):
            assert lines.heard(playhead(index)) is not None
        assert lines.heard(playhead(9)) is None  # recent: remembered
        assert lines.heard(playhead(0)) is not None  # long forgotten: shown again
