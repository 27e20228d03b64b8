"""Stream resampling: chunk by chunk equals all at once, and pitch is kept."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.audio import tone

from nodes.speaker.resample import StreamResampler, resample


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


class TestStreamResampler:
    @pytest.mark.parametrize(
        ("source", "target", "chunk"),
        [
            (22050, 48000, 882),  # Piper into the usual output rate, 40 ms chunks
            (24000, 48000, 1000),  # StyleTTS2
            (48000, 22050, 333),  # down, odd chunk sizes
            (16000, 16000, 100),  # unchanged
        ],
    )
    def test_chunked_equals_whole(self, source: int, target: int, chunk: int) -> None:
        signal = tone(300, 0.5, source, amplitude=1.0)
        whole = resample(signal, source, target)
        stream = StreamResampler(source, target)
        pieces = np.concatenate([stream.process(signal[i:i + chunk])
                                 for i in range(0, len(signal), chunk)])
        assert len(pieces) == len(whole)
        np.testing.assert_allclose(pieces, whole, atol=1e-5)
        # what lies past the last input sample is not extrapolated: at most one input step short
        assert 0 <= len(signal) * target / source - len(whole) <= target / source + 1

    def test_pitch_kept(self) -> None:
        out = resample(tone(440, 1.0, 22050, amplitude=1.0), 22050, 48000)
        assert abs(peak_hz(out, 48000) - 440) < 2

    def test_empty_chunk(self) -> None:
        assert len(StreamResampler(22050, 48000).process(np.zeros(0, np.float32))) == 0

    def test_bad_rate(self) -> None:
        with pytest.raises(ValueError, match="sample rates must be positive"):
            StreamResampler(0, 48000)
