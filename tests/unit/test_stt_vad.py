"""The VAD state machine: hysteresis, start run, pause/resume, hangover."""

from __future__ import annotations

import pytest

from nodes.stt.vad import End, Pause, Start, Vad, VadSettings


def run(probabilities: list[float], **settings: float) -> list[tuple[int, object]]:
    vad = Vad(VadSettings(**settings), chunk_ms=32)  # type: ignore[arg-type]
    return [(i, t) for i, p in enumerate(probabilities) if (t := vad.update(p)) is not None]


class TestStart:
    @pytest.mark.parametrize(
        ("probabilities", "start_chunks", "onset"),
        [
            # two loud chunks in a row start speech at the first of them
            ([0.1, 0.9, 0.9], 2, 1),
            # one loud chunk (a click) starts nothing with start_chunks=2 ...
            ([0.1, 0.9, 0.1, 0.1], 2, None),
            # ... but does with start_chunks=1
            ([0.1, 0.9, 0.1], 1, 1),
            # exactly the threshold counts as speech
            ([0.5, 0.5], 2, 0),
            # the band between the thresholds does not start speech
            ([0.4, 0.4, 0.4], 2, None),
        ],
    )
    def test_onset(self, probabilities: list[float], start_chunks: int, onset: int | None) -> None:
        starts = [t for _, t in run(probabilities, start_chunks=start_chunks)
                  if isinstance(t, Start)]
        assert [s.onset for s in starts] == ([] if onset is None else [onset])

    @pytest.mark.parametrize(
        ("probabilities", "onset", "at"),
        [
            # a sure chunk starts speech by itself, at once ...
            ([0.1, 0.95, 0.1], 1, 1),
            # ... with the chunks at start_threshold just before it in the onset
            ([0.1, 0.6, 0.92], 1, 2),
            # a chunk short of sure still waits for a second one
            ([0.1, 0.85, 0.1, 0.6, 0.7], 3, 4),
        ],
    )
    def test_one_sure_chunk_starts_alone(self, probabilities: list[float], onset: int,
                                         at: int) -> None:
        starts = [(i, t) for i, t in run(probabilities, start_alone_threshold=0.9)
                  if isinstance(t, Start)]
        assert [(i, s.onset) for i, s in starts] == [(at, onset)]

    def test_start_carries_the_probability_that_triggered_it(self) -> None:
        assert run([0.6, 0.95])[0][1] == Start(onset=0, probability=0.95)


class TestHangover:
    def test_quiet_pauses_then_ends_after_the_hangover(self) -> None:
        # 4 chunks of hangover at 32 ms: 128 ms
        events = run([0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1], hangover_ms=128)
        assert events == [(1, Start(0, 0.9)), (3, Pause(end=3)), (6, End(end=3, probability=0.1))]

    def test_speech_back_during_the_hangover_resumes(self) -> None:
        events = run([0.9, 0.9, 0.1, 0.1, 0.9, 0.2, 0.2, 0.2, 0.2], hangover_ms=128)
        kinds = [type(t).__name__ for _, t in events]
        assert kinds == ["Start", "Pause", "Resume", "Pause", "End"]
        assert events[-1][1] == End(end=5, probability=0.2)

    def test_the_band_between_thresholds_keeps_speech_going(self) -> None:
        # once speaking, 0.4 (under start, over end) is neither quiet nor a resume
        events = run([0.9, 0.9, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4], hangover_ms=64)
        assert [type(t) for _, t in events] == [Start]

    def test_masked_chunks_count_half_towards_the_hangover(self) -> None:
        vad = Vad(VadSettings(hangover_ms=128), chunk_ms=32)  # 4 quiet chunks
        transitions = [vad.update(p) for p in (0.9, 0.9)]
        transitions += [vad.update(0.0, masked=True) for _ in range(7)]
        assert not any(isinstance(t, End) for t in transitions)  # 3.5 chunks' worth
        assert vad.update(0.0, masked=True) == End(end=2, probability=0.0)

    def test_a_hangover_of_one_chunk_ends_without_a_pause(self) -> None:
        events = run([0.9, 0.9, 0.1], hangover_ms=10)
        assert [t for _, t in events][1:] == [End(end=2, probability=0.1)]

    def test_force_end_closes_the_utterance_at_the_current_chunk(self) -> None:
        vad = Vad(VadSettings(), chunk_ms=32)
        for p in (0.9, 0.9, 0.9):
            vad.update(p)
        assert vad.speaking
        assert vad.force_end() == End(end=3, probability=0.0)
        assert not vad.speaking and vad.force_end() is None


class TestSettings:
    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({"start_threshold": 0.3, "end_threshold": 0.5}, "end_threshold <= start_threshold"),
            ({"start_threshold": 1.0}, "start_threshold < 1"),
            ({"start_chunks": 0}, "start_chunks must be at least 1, got 0"),
            ({"hangover_ms": -1.0}, "hangover_ms must not be negative"),
            ({"start_alone_threshold": 0.4}, "start_alone_threshold must be 0 .off. or from "
                                             "start_threshold 0.5 to 1, got 0.4"),
        ],
    )
    def test_bad_settings_are_refused_with_the_reason(self, settings: dict[str, float],
                                                      message: str) -> None:
        with pytest.raises(ValueError, match=message):
            VadSettings(**settings)  # type: ignore[arg-type]

