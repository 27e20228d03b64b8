"""Median pitch by autocorrelation, on tones whose pitch is known."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.tts.pitch import frame_pitches, median_pitch_hz

RATE = 24000


def voiced(f0: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """A buzz with harmonics, as a voice has."""
    t = np.arange(int(seconds * rate)) / rate
    return sum(a * np.sin(2 * np.pi * k * f0 * t) for k, a in ((1, 1.0), (2, 0.5), (3, 0.3)))


class TestPitch:
    @pytest.mark.parametrize("f0", [85.0, 123.4, 210.0, 330.0])
    def test_known_pitch_within_one_percent(self, f0: float) -> None:
        assert median_pitch_hz(voiced(f0), RATE) == pytest.approx(f0, rel=0.01)

    def test_loudness_and_rate_do_not_matter(self) -> None:
        assert median_pitch_hz(0.001 * voiced(150.0, rate=16000), 16000) == pytest.approx(
            150.0, rel=0.01)

    def test_noise_and_silence_are_unvoiced(self) -> None:
        noise = np.random.default_rng(19).normal(size=RATE)
        assert median_pitch_hz(noise, RATE) == 0.0
        assert median_pitch_hz(np.zeros(RATE), RATE) == 0.0
        assert len(frame_pitches(np.zeros(10), RATE)) == 0  # shorter than a frame

    def test_the_median_ignores_the_quiet_part(self) -> None:
        mixed = np.concatenate([voiced(100.0), 0.01 * voiced(300.0, 0.5)])
        assert median_pitch_hz(mixed, RATE) == pytest.approx(100.0, rel=0.01)
