"""Lip-sync maths: visemes, mouth curves from phonemes and from loudness, playhead, smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import audio

from nodes.avatar.lipsync import (
    FRAME_S,
    PlayheadClock,
    SentenceTrack,
    Smoother,
    envelope_to_open,
    viseme,
)

RATE = 22050


def tone(seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return audio.tone(220, seconds, RATE, amplitude=amplitude)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


class TestViseme:
    @pytest.mark.parametrize(
        ("phoneme", "closed", "wide_open"),
        [
            ("m", True, False),    # lips pressed
            ("p", True, False),
            (" ", True, False),    # word gap
            (",", True, False),    # pause
            ("$", True, False),    # end of sentence
            ("a", False, True),    # open vowel
            ("ɑ", False, True),
            ("ə", False, False),   # mid vowel: open, not wide
            ("s", False, False),   # consonant: slightly open
        ],
    )
    def test_shapes(self, phoneme: str, closed: bool, wide_open: bool) -> None:
        shape = viseme(phoneme)
        assert shape is not None
        assert (shape[0] == 0.0) is closed
        assert (shape[0] > 0.8) is wide_open

    @pytest.mark.parametrize("mark", ["ˈ", "ˌ", "ː"])
    def test_marks_borrow_from_neighbours(self, mark: str) -> None:
        assert viseme(mark) is None

    def test_rounded_and_spread_vowels_differ_in_form(self) -> None:
        rounded, spread = viseme("u"), viseme("i")
        assert rounded is not None and spread is not None
        assert rounded[1] < 0.3 < 0.7 < spread[1]

    @pytest.mark.parametrize(
        ("name", "closed"),
        [
            ("sil", True),   # OVR viseme names, as some TTS engines send them
            ("PP", True),
            ("aa", False),
            ("O", False),
        ],
    )
    def test_named_visemes(self, name: str, closed: bool) -> None:
        shape = viseme(name)
        assert shape is not None and (shape[0] == 0.0) is closed

    def test_unknown_symbol_half_open(self) -> None:
        assert viseme("☃") == (0.4, 0.5)


class TestPhonemeTrack:
    def test_follows_phoneme_timings(self) -> None:
        track = SentenceTrack(RATE)
        # "^ m a ˈ a ." : silence, closed lips, open vowel, stress mark + vowel, pause
        phonemes = [("^", 0, 2205), ("m", 2205, 2205), ("a", 4410, 4410),
                    ("ˈ", 8820, 1000), ("i", 9820, 2000), (".", 11820, 2205)]
        track.append(tone(14025 / RATE), phonemes)
        assert track.uses_phonemes
        assert track.mouth(1000).open == 0.0          # ^
        assert track.mouth(3000).open == 0.0          # m
        assert track.mouth(6000).open > 0.8           # a
        assert track.mouth(9000).form > 0.7           # stress mark takes the next vowel (i)
        assert track.mouth(12500).open == 0.0         # .

    def test_silence_inside_a_phoneme_closes(self) -> None:
        # the phoneme says "open vowel" but nothing is audible: the envelope gates it shut
        track = SentenceTrack(RATE)
        track.append(np.concatenate([tone(0.1), silence(0.1)]), [("a", 0, 4410)])
        assert track.mouth(1000).open > 0.8
        assert track.mouth(3500).open == 0.0

    def test_quiet_sound_scales_the_shape(self) -> None:
        loud, quiet = SentenceTrack(RATE), SentenceTrack(RATE)
        loud.append(tone(0.1, 0.5), [("a", 0, 2205)])
        quiet.append(tone(0.1, 0.01), [("a", 0, 2205)])
        assert 0 < quiet.mouth(1000).open < loud.mouth(1000).open

    def test_length_mark_holds_previous(self) -> None:
        track = SentenceTrack(RATE)
        track.append(tone(0.2), [("a", 0, 2205), ("ː", 2205, 2205)])
        assert track.mouth(3000).open == track.mouth(1000).open > 0.8

    def test_timings_are_per_chunk(self) -> None:
        track = SentenceTrack(RATE)
        track.append(tone(0.1), [("m", 0, 2205)])
        track.append(tone(0.1), [("a", 0, 2205)])   # starts at sample 2205 of the sentence
        assert track.mouth(1000).open == 0.0
        assert track.mouth(2205 + 1000).open > 0.8

    def test_closed_outside_the_audio(self) -> None:
        track = SentenceTrack(RATE)
        track.append(tone(0.1), [("a", 0, 2205)])
        assert track.mouth(-1).open == 0.0
        assert track.mouth(2205).open == 0.0


class TestEnvelopeTrack:
    def test_opens_on_sound_closes_on_silence(self) -> None:
        track = SentenceTrack(RATE)
        track.append(np.concatenate([silence(0.3), tone(0.4), silence(0.3)]), [])
        assert not track.uses_phonemes
        assert track.mouth(0.15 * RATE).open == 0.0
        assert track.mouth(0.5 * RATE).open > 0.8
        assert track.mouth(0.85 * RATE).open == 0.0

    def test_onset_sharp_to_one_frame(self) -> None:
        track = SentenceTrack(RATE)
        track.append(np.concatenate([silence(0.3), tone(0.3)]), [])
        onset = next(i for i in range(0, track.samples, 10) if track.mouth(i).open > 0.3)
        assert abs(onset / RATE - 0.3) <= 2 * FRAME_S

    def test_chunk_boundaries_do_not_matter(self) -> None:
        audio = np.concatenate([silence(0.2), tone(0.3, 0.2), silence(0.1)])
        whole, pieces = SentenceTrack(RATE), SentenceTrack(RATE)
        whole.append(audio, [])
        for start in range(0, len(audio), 1234):  # odd chunk size, not a multiple of the hop
            pieces.append(audio[start:start + 1234], [])
        for sample in range(0, len(audio) - 500, 300):
            assert pieces.mouth(sample).open == pytest.approx(whole.mouth(sample).open)

    @pytest.mark.parametrize(
        ("rms", "expected"),
        [
            (0.0, 0.0),       # digital silence
            (10 ** (-50 / 20), 0.0),   # below the floor
            (10 ** (-14 / 20), 1.0),   # at full mark
            (1.0, 1.0),       # clipped
        ],
    )
    def test_envelope_mapping(self, rms: float, expected: float) -> None:
        assert float(envelope_to_open(np.array([rms]))[0]) == pytest.approx(expected)


class TestPlayheadClock:
    def test_extrapolates_from_the_audible_time(self) -> None:
        clock = PlayheadClock()
        clock.update("r", 0, 1000, RATE, "playing", audible_ns=1_000_000_000)
        key, sample = clock.heard(1_500_000_000) or (None, 0.0)
        assert key == ("r", 0)
        assert sample == pytest.approx(1000 + 0.5 * RATE)

    def test_before_audible_time_is_earlier_sample(self) -> None:
        clock = PlayheadClock()
        clock.update("r", 0, 0, RATE, "playing", audible_ns=2_000_000_000)
        heard = clock.heard(1_900_000_000)
        assert heard is not None and heard[1] < 0

    @pytest.mark.parametrize("state", ["finished", "cut", "idle"])
    def test_not_playing_is_silent(self, state: str) -> None:
        clock = PlayheadClock()
        clock.update("r", 0, 500, RATE, state, audible_ns=1)
        assert clock.heard(2) is None

    def test_stale_report_stops(self) -> None:
        clock = PlayheadClock(stale_s=1.0)
        clock.update("r", 0, 0, RATE, "playing", audible_ns=0)
        assert clock.heard(int(0.9e9)) is not None
        assert clock.heard(int(1.1e9)) is None


class TestSmoother:
    def test_attack_faster_than_release(self) -> None:
        up, down = Smoother(), Smoother(value=1.0)
        rise = up.update(1.0, 1 / 60)
        fall = 1.0 - down.update(0.0, 1 / 60)
        assert rise > fall > 0

    def test_converges(self) -> None:
        smoother = Smoother()
        for _ in range(60):
            smoother.update(0.7, 1 / 60)
        assert smoother.value == pytest.approx(0.7, abs=1e-3)
