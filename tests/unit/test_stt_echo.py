"""The personas' own voices: the reference timeline, the double-talk gate (with real Piper
audio, real Silero probabilities) and the transcript check."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import audio

from nodes.mic.resample import resample
from nodes.stt.backends.silero import CHUNK_SAMPLES, SileroVad
from nodes.stt.echo import EchoGate, EchoSettings, ReferenceTimeline, is_echo_text
from nodes.stt.testing import espeak, piper_chunks

MS = 1_000_000
RATE = 16000


def tone(seconds: float, amplitude: float, rate: int = RATE) -> np.ndarray:
    return audio.tone(220, seconds, rate, amplitude=amplitude)


class TestReferenceTimeline:
    def test_peak_covers_what_was_audible_plus_the_echo_tail(self) -> None:
        timeline = ReferenceTimeline(EchoSettings(tail_ms=100, lead_ms=20))
        timeline.add_audio("r", 0, tone(1.0, 0.5), RATE, text="hello there", last=True)
        timeline.on_playhead("r", 0, 0, RATE, "playing", 1_000 * MS)
        tone_energy = 0.5**2 / 2
        # 10 ms blocks hold 2.2 periods of the tone: their energies vary a few %
        assert timeline.peak(1_200 * MS, 1_232 * MS) == pytest.approx(tone_energy, rel=0.1)
        assert timeline.peak(800 * MS, 900 * MS) == 0.0  # before it played
        # after its end (2 s), only within the tail; "playing" reports extrapolate 500 ms
        timeline.on_playhead("r", 0, RATE, RATE, "finished", 2_000 * MS)
        assert timeline.peak(2_050 * MS, 2_082 * MS) > 0.0
        assert timeline.peak(2_150 * MS, 2_182 * MS) == 0.0
        assert timeline.texts(1_500 * MS, 1_600 * MS) == ["hello there"]
        assert timeline.texts(2_500 * MS, 2_600 * MS) == []

    def test_a_cut_sentence_stops_being_audible_where_it_was_cut(self) -> None:
        timeline = ReferenceTimeline(EchoSettings(tail_ms=0, lead_ms=0))
        timeline.add_audio("r", 0, tone(2.0, 0.5), RATE)
        timeline.on_playhead("r", 0, RATE // 2, RATE, "cut", 1_500 * MS)
        assert timeline.peak(1_400 * MS, 1_450 * MS) > 0.0
        assert timeline.peak(1_600 * MS, 1_650 * MS) == 0.0

    def test_audio_at_another_rate_maps_to_the_same_clock(self) -> None:
        timeline = ReferenceTimeline(EchoSettings(tail_ms=0, lead_ms=0))
        silence = np.zeros(22050, np.float32)
        timeline.add_audio("r", 0, np.concatenate([silence, tone(1.0, 0.5, 22050)]), 22050)
        timeline.on_playhead("r", 0, 0, 22050, "finished", 0)
        assert timeline.peak(900 * MS, 990 * MS) == 0.0  # the first second is silence
        assert timeline.aligned(1_100 * MS, 1_132 * MS) == pytest.approx(0.125, rel=0.05)

    def test_old_sentences_are_forgotten(self) -> None:
        timeline = ReferenceTimeline(keep_s=5.0)
        timeline.add_audio("r", 0, tone(1.0, 0.5), RATE)
        timeline.on_playhead("r", 0, RATE, RATE, "finished", 1_000 * MS)
        timeline.on_playhead("r", 1, 0, RATE, "playing", 10_000 * MS)
        assert timeline.peak(500 * MS, 600 * MS) == 0.0


    def test_sentences_never_played_do_not_pile_up(self) -> None:
        timeline = ReferenceTimeline(max_sentences=3)
        for index in range(5):
            timeline.add_audio("r", index, tone(0.1, 0.5), RATE, text=f"line {index}")
        timeline.on_playhead("r", 4, 0, RATE, "finished", 0)
        timeline.on_playhead("r", 0, 0, RATE, "finished", 0)  # forgotten: comes back empty
        assert timeline.texts(0, 50 * MS) == ["line 4"]


class TestEchoGate:
    def test_learns_the_echo_gain_from_a_second_of_energies(self) -> None:
        gate = EchoGate(EchoSettings(warmup_chunks=4))
        for _ in range(60):
            gate.is_person(0.04 * 0.1, peak=0.2, aligned=0.1)  # echo at -14 dB
        assert gate.gain == pytest.approx(0.04)

    def test_before_learning_the_largest_ratio_seen_is_the_bar(self) -> None:
        gate = EchoGate(EchoSettings(initial_gain_db=-20, warmup_chunks=1000))
        assert gate.gain == pytest.approx(0.01)
        for _ in range(40):
            gate.is_person(0.5, peak=1.0, aligned=1.0)  # a loud echo path
        assert gate.gain == pytest.approx(0.5)

    @pytest.mark.parametrize(
        ("mic", "speaking", "person"),
        [
            (0.0, False, False),  # silence while the personas talk is not a person
            (0.04 * 0.2, False, False),  # exactly the loudest possible echo
            (0.04 * 0.2 * 3, False, False),  # +4.8 dB: not enough to start
            (0.04 * 0.2 * 5, False, True),  # +7 dB: a person
            (0.04 * 0.2 * 0.3, True, True),  # -5 dB keeps an utterance going
            (0.04 * 0.2 * 0.2, True, False),  # -7 dB does not
        ],
    )
    def test_a_person_must_beat_the_loudest_possible_echo(self, mic: float, speaking: bool,
                                                         person: bool) -> None:
        gate = EchoGate(EchoSettings(initial_gain_db=10 * np.log10(0.04), warmup_chunks=1000))
        assert gate.is_person(mic, peak=0.2, aligned=0.1, speaking=speaking) is person

    def test_anything_is_a_person_when_nothing_is_audible(self) -> None:
        assert EchoGate().is_person(1e-6, peak=0.0, aligned=0.0)


@pytest.mark.slow
class TestWithRealVoices:
    def test_piper_heard_by_the_mic_is_speech_to_silero_but_not_a_person(self) -> None:
        text = "Welcome back to the stream everyone, today we are playing a brand new game."
        samples, rate = piper_chunks(text)
        echo = 0.2 * resample(samples, rate, RATE)
        rng = np.random.default_rng(1)
        mic = np.concatenate([echo, np.zeros(RATE // 2, np.float32)])
        mic = mic + rng.normal(0, 0.003, len(mic)).astype(np.float32)
        person = espeak("Wait, stop, I have a question.")
        person = 0.8 * person / np.abs(person).max()
        start = RATE  # the person speaks one second in, over the echo
        mixed = mic.copy()
        mixed[start: start + len(person)] += person[: len(mixed) - start]

        def judge(audio: np.ndarray) -> tuple[int, int]:
            timeline = ReferenceTimeline()
            timeline.add_audio("r", 0, samples, rate, text=text, last=True)
            timeline.on_playhead("r", 0, 0, rate, "finished", 0)
            gate, vad = EchoGate(), SileroVad()
            speechy = people = 0
            for i in range(0, len(audio) - CHUNK_SAMPLES, CHUNK_SAMPLES):
                chunk = audio[i: i + CHUNK_SAMPLES]
                t0 = i * 62_500
                t1 = t0 + CHUNK_SAMPLES * 62_500
                probability = vad.probability((chunk * 32767).astype("<i2").tobytes())
                is_person = gate.is_person(float(np.mean(chunk**2)), timeline.peak(t0, t1),
                                           timeline.aligned(t0, t1))
                speechy += probability >= 0.5
                people += probability >= 0.5 and is_person
            return speechy, people

        speechy, people = judge(mic)
        assert speechy > 40 and people == 0  # Silero hears speech; the gate knows whose
        speechy, people = judge(mixed)
        assert people >= 5  # a person over it gets through


class TestEchoText:
    @pytest.mark.parametrize(
        ("transcript", "sentences", "echo"),
        [
            ("tell me which level you want", ["Chat, tell me which level you want."], True),
            ("wait stop I have a question", ["Chat, tell me which level you want."], False),
            ("tell me which level you want", [], False),  # nothing was audible
        ],
    )
    def test_mostly_their_words_is_their_echo(self, transcript: str, sentences: list[str],
                                              echo: bool) -> None:
        assert is_echo_text(transcript, sentences, 0.7) is echo
