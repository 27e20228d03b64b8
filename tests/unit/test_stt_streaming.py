"""Segmenter: voice events, pre-roll, partial cadence and speculative finals; Rechunker."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nodes.stt.streaming import (
    Job,
    Rechunker,
    Recognition,
    Result,
    Segmenter,
    StreamSettings,
    VoiceEnd,
    VoiceStart,
)
from nodes.stt.vad import Vad, VadSettings

CHUNK = 512
CHUNK_NS = 32_000_000


def segmenter(**settings: float) -> Segmenter:
    defaults = {"preroll_ms": 64.0, "partial_interval_ms": 320.0, "min_partial_ms": 320.0,
                "final_after_ms": 64.0}
    counter = itertools.count()
    return Segmenter(Vad(VadSettings(hangover_ms=160), chunk_ms=32),
                     StreamSettings(**{**defaults, **settings}),
                     chunk_samples=CHUNK, sample_rate=16000, new_id=lambda: f"u{next(counter)}")


class Feeder:
    """Pushes chunks whose samples all equal their index, so audio can be traced back."""

    def __init__(self, seg: Segmenter):
        self.seg = seg
        self.index = 0
        self.events: list[object] = []

    def push(self, *probabilities: float) -> list[object]:
        out: list[object] = []
        for p in probabilities:
            chunk = np.full(CHUNK, self.index, dtype=np.float32)
            out += self.seg.push(chunk, 1_000 + self.index * CHUNK_NS, p)
            self.index += 1
        self.events += out
        return out


def chunk_ids(audio: np.ndarray) -> list[int]:
    return [int(v) for v in audio[::CHUNK]]


class TestVoiceEvents:
    def test_start_is_stamped_at_the_onset_and_keeps_the_pre_roll(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(0.0, 0.0, 0.0, 0.0)
        (start,) = feed.push(0.9, 0.9)
        assert start == VoiceStart("u0", 1_000 + 4 * CHUNK_NS, 0.9)
        feed.push(*[0.9] * 8, *[0.0] * 6)
        (end,) = [e for e in feed.events if isinstance(e, VoiceEnd)]
        assert end.end_ns == 1_000 + 14 * CHUNK_NS  # first quiet chunk
        job = seg.next_job()
        assert job is not None and job.final
        # 2 chunks of pre-roll (64 ms) before the onset, then everything to the end
        assert chunk_ids(job.audio) == list(range(2, 19))  # the hangover ended at chunk 18

    def test_overlong_utterances_are_cut(self) -> None:
        feed = Feeder(segmenter(max_utterance_s=0.32))
        feed.push(*[0.9] * 12)
        assert any(isinstance(e, VoiceEnd) for e in feed.events)


class TestAudioStopped:
    """The audio stops coming mid-utterance (a WAV that ended, a microphone unplugged)."""

    def test_the_utterance_ends_where_the_speech_did_and_its_final_is_due(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(0.0, 0.9, 0.9, 0.9, 0.9)  # talking when the last chunk came
        (end,) = seg.end_now()
        assert isinstance(end, VoiceEnd)
        assert end.end_ns == 1_000 + 5 * CHUNK_NS  # after the last chunk heard
        job = seg.next_job()
        assert job is not None and job.final
        assert chunk_ids(job.audio) == [0, 1, 2, 3, 4]
        assert not seg.vad.speaking

    def test_a_final_guessed_in_the_pause_is_published_at_once(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(0.9, 0.9, 0.9, 0.0, 0.0)  # paused: the speculative final is due
        job = seg.next_job()
        assert job is not None and job.final
        assert seg.finish(job, Recognition("hello")) == []
        end, result = seg.end_now()
        assert isinstance(end, VoiceEnd) and end.end_ns == 1_000 + 3 * CHUNK_NS
        assert isinstance(result, Result) and result.final
        assert result.recognition.text == "hello"

    def test_nothing_happens_in_silence(self) -> None:
        seg = segmenter()
        Feeder(seg).push(0.0, 0.0)
        assert seg.end_now() == []
        assert seg.next_job() is None


class TestFinishedHangover:
    """A shorter hangover once the final guessed in the pause reads as a finished sentence."""

    def pause_with_guess(self, text: str) -> tuple[Segmenter, Feeder]:
        seg = segmenter(finished_hangover_ms=64.0)  # the VAD's own hangover: 160 ms
        feed = Feeder(seg)
        feed.push(0.9, 0.9, 0.9, 0.0, 0.0)
        job = seg.next_job()
        assert job is not None and job.final
        seg.finish(job, Recognition(text))
        return seg, feed

    def test_a_finished_sentence_ends_after_the_shorter_hangover(self) -> None:
        seg, feed = self.pause_with_guess("Which one of you forgot to water the plants?")
        end, result = feed.push(0.0)  # the third quiet chunk: 96 ms >= 64 ms
        assert isinstance(end, VoiceEnd) and end.end_ns == 1_000 + 3 * CHUNK_NS
        assert isinstance(result, Result) and result.final
        assert not seg.vad.speaking

    def test_words_that_lead_on_wait_for_the_whole_hangover(self) -> None:
        seg, feed = self.pause_with_guess("We ran out of coffee again, so")
        assert feed.push(0.0, 0.0) == []
        assert seg.vad.speaking
        assert any(isinstance(e, VoiceEnd) for e in feed.push(0.0, 0.0))  # 160 ms

    def test_off_at_zero(self) -> None:
        seg = segmenter(finished_hangover_ms=0.0)
        feed = Feeder(seg)
        feed.push(0.9, 0.9, 0.9, 0.0, 0.0)
        job = seg.next_job()
        assert job is not None
        seg.finish(job, Recognition("A finished sentence."))
        assert feed.push(0.0) == []


class TestJobs:
    def test_partials_come_at_the_interval_while_speaking_one_at_a_time(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(*[0.9] * 9)
        assert seg.next_job() is None  # 288 ms: under min_partial_ms
        feed.push(0.9)
        job = seg.next_job()
        assert job is not None and not job.final
        assert seg.next_job() is None  # busy
        (partial,) = seg.finish(job, Recognition("hello"))
        assert isinstance(partial, Result) and not partial.final
        assert partial.recognition.text == "hello"
        assert seg.next_job() is None  # the next partial needs another interval
        feed.push(*[0.9] * 10)
        job = seg.next_job()
        assert job is not None and not job.final

    def test_the_next_partial_waits_an_interval_after_the_last_one_finished(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(*[0.9] * 10)
        job = seg.next_job()
        assert job is not None
        feed.push(*[0.9] * 5)  # the recogniser is slow: 5 chunks arrive meanwhile
        seg.finish(job, Recognition("hello"))
        feed.push(*[0.9] * 9)
        assert seg.next_job() is None
        feed.push(0.9)
        job = seg.next_job()
        assert job is not None and len(job.audio) == 25 * CHUNK

    def test_final_is_started_in_the_pause_and_published_at_the_end(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(0.9, 0.9, 0.9, 0.0)
        assert seg.next_job() is None  # paused one chunk: not yet
        feed.push(0.0)
        job = seg.next_job()
        assert job is not None and job.final and job.speech_end == 3
        assert seg.finish(job, Recognition("hi there")) == []  # the hangover is not over
        feed.push(0.0, 0.0, 0.0)
        end, final = feed.events[-2:]
        assert isinstance(end, VoiceEnd) and isinstance(final, Result) and final.final
        assert final.recognition.text == "hi there"
        assert final.speech_end_s == pytest.approx((3 - 0) * 0.032)

    def test_a_final_guessed_before_speech_resumed_is_thrown_away(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(0.9, 0.9, 0.9, 0.0, 0.0)
        guess = seg.next_job()
        assert guess is not None and guess.final
        feed.push(0.9, 0.9)  # speech is back while the guess runs
        assert seg.finish(guess, Recognition("hi")) == []
        feed.push(0.0, 0.0, 0.0, 0.0, 0.0)  # ... and ends for good
        job = seg.next_job()
        assert job is not None and job.final and job.speech_end == 7
        (final,) = seg.finish(job, Recognition("hi there you"))
        assert final.recognition.text == "hi there you"

    def test_a_guess_that_finishes_after_the_end_is_checked_against_it(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(0.9, 0.9, 0.9, 0.0, 0.0)
        guess = seg.next_job()
        assert guess is not None
        feed.push(0.9, 0.0, 0.0, 0.0, 0.0, 0.0)  # resumed, then ended elsewhere
        assert seg.finish(guess, Recognition("stale")) == []
        job = seg.next_job()
        assert job is not None and job.speech_end == 6

    def test_a_final_does_not_wait_for_a_running_partial_but_partials_wait_for_it(self) -> None:
        seg = segmenter()
        feed = Feeder(seg)
        feed.push(*[0.9] * 12)
        partial = seg.next_job()
        assert partial is not None and not partial.final
        feed.push(0.0, 0.0)  # the speech pauses while the partial runs
        final = seg.next_job()
        assert final is not None and final.final
        feed.push(0.9, 0.9, 0.0, 0.0)  # speech again (and again a pause): nothing new starts
        (guess,) = seg.finish(partial, Recognition("guess"))  # the utterance goes on
        assert not guess.final
        assert seg.next_job() is None  # no partial while a final runs
        seg.finish(final, Recognition("stale"))
        job = seg.next_job()
        assert job is not None and job.final and job.speech_end == 16

    def test_a_partial_finishing_after_the_end_is_not_published(self) -> None:
        seg = segmenter(final_after_ms=1000)
        feed = Feeder(seg)
        feed.push(*[0.9] * 12)
        partial = seg.next_job()
        assert partial is not None and not partial.final
        feed.push(*[0.0] * 6)
        assert seg.finish(partial, Recognition("late")) == []
        final = seg.next_job()
        assert isinstance(final, Job) and final.final


class TestRechunker:
    @pytest.mark.parametrize("frame_samples", [320, 400, 512, 700])  # 20 ms .. odd sizes
    def test_cuts_exact_chunks_with_exact_stamps(self, frame_samples: int) -> None:
        rechunker = Rechunker(CHUNK, 16000)
        samples = np.arange(frame_samples * 10, dtype="<i2")
        chunks = []
        for n in range(10):
            frame = samples[n * frame_samples: (n + 1) * frame_samples]
            chunks += rechunker.push(frame.tobytes(), n * frame_samples * 62_500)
        assert len(chunks) == frame_samples * 10 // CHUNK
        for k, (pcm, stamp) in enumerate(chunks):
            assert np.frombuffer(pcm, "<i2")[0] == k * CHUNK
            assert stamp == k * CHUNK * 62_500  # 62.5 us per sample at 16 kHz
