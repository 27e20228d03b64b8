"""Windowed-sinc resampling, whole and in pieces."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.audio import tone

from nodes.mic.resample import Resampler, resample


def sine(hz: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    return tone(hz, seconds, rate, amplitude=1.0)


class TestResample:
    @pytest.mark.parametrize("from_rate", [8000, 22050, 44100, 48000])  # up and down to 16 kHz
    def test_a_tone_keeps_its_shape_and_length(self, from_rate: int) -> None:
        out = resample(sine(440, from_rate), from_rate, 16000)
        assert len(out) == 16000
        expected = sine(440, 16000)
        assert np.abs(out[200:-200] - expected[200:-200]).max() < 1e-3

    def test_what_the_new_rate_cannot_carry_is_filtered_out(self) -> None:
        # 9 kHz is above the 8 kHz Nyquist limit of 16 kHz audio: it must not alias to 7 kHz
        out = resample(sine(9000, 22050), 22050, 16000)
        assert np.sqrt(np.mean(out[200:-200] ** 2)) < 0.01

    def test_equal_rates_pass_through(self) -> None:
        samples = sine(440, 16000)
        np.testing.assert_array_equal(resample(samples, 16000, 16000), samples)

    @pytest.mark.parametrize("block", [1, 160, 333, 1024])
    def test_in_pieces_equals_all_at_once(self, block: int) -> None:
        samples = np.random.default_rng(0).normal(0, 0.3, 22050).astype(np.float32)
        converter = Resampler(22050, 16000)
        pieces = [converter.process(samples[i: i + block]) for i in range(0, len(samples), block)]
        streamed = np.concatenate([*pieces, converter.flush()])
        np.testing.assert_allclose(streamed, resample(samples, 22050, 16000), atol=1e-6)

    def test_bad_rates_are_refused(self) -> None:
        with pytest.raises(ValueError, match="sample rates must be positive, got 0 -> 16000"):
            Resampler(0, 16000)
