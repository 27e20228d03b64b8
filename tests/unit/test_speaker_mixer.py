"""The mixer and its lanes: order, no overlap, overlap, stop with a fade, stalls, pause."""

from __future__ import annotations

import numpy as np

from nodes.speaker.mixer import Mixer
from nodes.speaker.queue import Segment

RATE = 1000  # 1 frame = 1 ms keeps the arithmetic readable


def push(mixer: Mixer, persona: str, request: str, sentence: int, value: float, frames: int,
         *, last: bool = False, final: bool = False, now: float = 0.0) -> bool:
    return mixer.push(persona=persona, request_id=request, sentence_index=sentence,
                      samples=np.full(frames, value, np.float32), source_rate=RATE, text="",
                      last=last, final=final, now=now)


def play(mixer: Mixer, frames: int, now: float = 0.0) -> tuple[np.ndarray, list[Segment]]:
    block = mixer.read(frames, now)
    return block.samples, block.segments


class TestOrder:
    def test_sentences_play_in_index_order(self) -> None:
        mixer = Mixer(RATE)
        push(mixer, "a", "r", 1, 0.2, 10, last=True, final=True)
        push(mixer, "a", "r", 0, 0.1, 10, last=True)
        samples, segments = play(mixer, 25)
        np.testing.assert_allclose(samples, [0.1] * 10 + [0.2] * 10 + [0.0] * 5)
        assert [(s.sentence_index, s.ends) for s in segments] == [(0, "finished"),
                                                                  (1, "finished")]

    def test_waits_for_a_sentence_still_arriving(self) -> None:
        mixer = Mixer(RATE)
        push(mixer, "a", "r", 0, 0.1, 5)
        samples, _ = play(mixer, 10)
        np.testing.assert_allclose(samples, [0.1] * 5 + [0.0] * 5)  # underrun: silence
        push(mixer, "a", "r", 0, 0.3, 5, last=True, final=True)
        samples, segments = play(mixer, 10)
        np.testing.assert_allclose(samples[:5], [0.3] * 5)
        assert segments[0].source_start == 5  # carries on where it was

    def test_late_chunk_of_a_played_sentence_is_refused(self) -> None:
        mixer = Mixer(RATE)
        push(mixer, "a", "r", 0, 0.1, 5, last=True)
        play(mixer, 10)
        assert not push(mixer, "a", "r", 0, 0.1, 5)
        assert mixer.late_chunks == 1


class TestPersonas:
    def test_no_overlap_by_default(self) -> None:
        mixer = Mixer(RATE)
        push(mixer, "a", "ra", 0, 0.1, 10)
        push(mixer, "b", "rb", 0, 0.5, 10, last=True, final=True)
        samples, _ = play(mixer, 20)
        # b waits although a has nothing more to play yet: a has not finished its reply
        np.testing.assert_allclose(samples, [0.1] * 10 + [0.0] * 10)
        push(mixer, "a", "ra", 0, 0.1, 0, last=True, final=True)
        samples, segments = play(mixer, 20)
        np.testing.assert_allclose(samples, [0.5] * 10 + [0.0] * 10)
        assert segments[-1].persona == "b"

    def test_overlap_mixes(self) -> None:
        mixer = Mixer(RATE, overlap=True)
        push(mixer, "a", "ra", 0, 0.25, 10)
        push(mixer, "b", "rb", 0, 0.5, 10)
        samples, segments = play(mixer, 10)
        np.testing.assert_allclose(samples, [0.75] * 10)
        assert {s.persona for s in segments} == {"a", "b"}

    def test_overlap_clips(self) -> None:
        mixer = Mixer(RATE, overlap=True)
        push(mixer, "a", "ra", 0, 0.75, 4)
        push(mixer, "b", "rb", 0, 0.75, 4)
        samples, _ = play(mixer, 4)
        np.testing.assert_allclose(samples, [1.0] * 4)

    def test_a_stalled_reply_gives_way(self) -> None:
        mixer = Mixer(RATE, stall_s=1.0)
        push(mixer, "a", "ra", 0, 0.1, 5, now=0.0)
        push(mixer, "b", "rb", 0, 0.5, 5, last=True, final=True, now=0.0)
        play(mixer, 5, now=0.5)
        samples, _ = play(mixer, 5, now=2.0)  # a sent nothing for 2 s while b waits
        np.testing.assert_allclose(samples, [0.5] * 5)
        assert mixer.stalled == 1


class TestStop:
    def test_cancel_fades_within_fade_frames_and_refuses_more(self) -> None:
        mixer = Mixer(RATE, fade_ms=4)
        push(mixer, "a", "r", 0, 0.5, 100)
        play(mixer, 10)
        assert mixer.cancel("r")
        samples, segments = play(mixer, 10)
        assert np.all(samples[4:] == 0)
        assert samples[0] == 0.5 and samples[3] == 0.0  # a ramp, no click
        assert segments == [Segment(0, 4, "a", "r", 0, 10, RATE, RATE, "", "cut")]
        assert not push(mixer, "a", "r", 1, 0.5, 10)

    def test_cancel_other_request_leaves_the_playing_one(self) -> None:
        mixer = Mixer(RATE)
        push(mixer, "a", "r1", 0, 0.5, 20)
        push(mixer, "b", "r2", 0, 0.7, 20)
        mixer.cancel("r2")
        samples, _ = play(mixer, 10)
        np.testing.assert_allclose(samples, [0.5] * 10)

    def test_stop_everything(self) -> None:
        mixer = Mixer(RATE, fade_ms=1)
        push(mixer, "a", "r1", 0, 0.5, 20)
        push(mixer, "b", "r2", 0, 0.7, 20)
        play(mixer, 5)
        assert mixer.cancel("")
        play(mixer, 5)
        assert not mixer.busy()
        assert np.all(play(mixer, 10)[0] == 0)

    def test_cancel_unknown_is_false(self) -> None:
        assert not Mixer(RATE).cancel("nothing")

    def test_pause_and_resume(self) -> None:
        mixer = Mixer(RATE)
        push(mixer, "a", "r", 0, 0.5, 10, last=True, final=True)
        mixer.paused = True
        samples, segments = play(mixer, 10)
        assert np.all(samples == 0) and segments == []
        mixer.paused = False
        samples, _ = play(mixer, 10)
        np.testing.assert_allclose(samples, [0.5] * 10)


class TestPositions:
    def test_source_positions_at_another_rate(self) -> None:
        mixer = Mixer(48000)
        mixer.push(persona="a", request_id="r", sentence_index=0,
                   samples=np.zeros(4800, np.float32), source_rate=22050, text="hi",
                   last=True, final=True, now=0)
        _, first = play(mixer, 2400)
        _, second = play(mixer, 2400)
        assert first[0].source_start == 0 and first[0].text == "hi"
        assert second[0].source_start == 1102  # 50 ms at 22.05 kHz (rounded)
        assert second[0].source_at(2400) == 2205


class TestConfigure:
    """What a run-time parameter set changes (``Mixer.configure``)."""

    def test_overlap_applies_to_replies_that_start_after_it(self) -> None:
        mixer = Mixer(RATE)
        push(mixer, "a", "ra", 0, 0.25, 10)
        mixer.configure(overlap=True)
        push(mixer, "a", "ra", 0, 0.25, 10)  # ra stays in the lane it started in
        push(mixer, "b", "rb", 0, 0.5, 20)
        samples, segments = play(mixer, 20)
        np.testing.assert_allclose(samples, [0.75] * 20)
        assert {s.persona for s in segments} == {"a", "b"}
        mixer.configure(overlap=False)
        push(mixer, "a", "ra", 0, 0.0, 0, last=True, final=True)
        push(mixer, "c", "rc", 0, 0.1, 10, last=True, final=True)  # in turn again
        push(mixer, "d", "rd", 0, 0.2, 10, last=True, final=True)
        samples, _ = play(mixer, 20)
        np.testing.assert_allclose(samples, [0.1] * 10 + [0.2] * 10)

    def test_stall_s_applies_to_a_reply_already_waiting(self) -> None:
        mixer = Mixer(RATE, stall_s=10.0)
        push(mixer, "a", "ra", 0, 0.1, 5, now=0.0)
        push(mixer, "b", "rb", 0, 0.5, 5, last=True, final=True, now=0.0)
        play(mixer, 5, now=0.5)
        mixer.configure(stall_s=1.0)
        samples, _ = play(mixer, 5, now=2.0)
        np.testing.assert_allclose(samples, [0.5] * 5)
        assert mixer.stalled == 1

    def test_fade_ms_applies_to_the_next_stop(self) -> None:
        mixer = Mixer(RATE, fade_ms=4)
        push(mixer, "a", "r", 0, 0.5, 100)
        play(mixer, 10)
        mixer.configure(fade_ms=8)
        mixer.cancel("r")
        samples, _ = play(mixer, 10)
        assert samples[6] > 0 and np.all(samples[7:] == 0)  # 8 frames from 0.5 down to 0
