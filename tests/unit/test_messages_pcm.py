"""messages.pcm: audio bytes read the same way by every node, and refused with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bus.errors import PcmError, WireError
from messages.pcm import SAMPLE_BYTES, decode_mono, frame_count

FUZZ = settings(max_examples=300, derandomize=True, print_blob=True, deadline=None)
CHANNELS = st.integers(min_value=1, max_value=6)


def interleaved(dtype: str, elements: st.SearchStrategy[float] | None = None
                ) -> st.SearchStrategy[np.ndarray]:
    """Frames x channels arrays of ``dtype`` (up to 200 frames, 1 to 6 channels)."""
    shapes = st.tuples(st.integers(0, 200), CHANNELS)
    return hnp.arrays(dtype, shapes, elements=elements)


class TestDecode:
    @pytest.mark.parametrize(
        ("pcm", "fmt", "channels", "expected"),
        [
            (np.array([16384, -16384], "<i2").tobytes(), "s16le", 1, [0.5, -0.5]),
            (np.array([0.25, 0.75], "<f4").tobytes(), "f32le", 2, [0.5]),   # stereo -> mono
            (np.array([-32768, 32767], "<i2").tobytes(), "s16le", 1, [-1.0, 32767 / 32768]),
            (np.array([100, 300, -8, 8], "<i2").tobytes(), "s16le", 2, [200 / 32768, 0.0]),
            (b"", "f32le", 2, []),
        ],
    )
    def test_decode(self, pcm: bytes, fmt: str, channels: int, expected: list[float]) -> None:
        samples = decode_mono(pcm, fmt, channels)
        assert samples.dtype == np.float32
        assert samples.tolist() == pytest.approx(expected)

    @FUZZ
    @given(interleaved("<i2"))
    def test_s16_round_trip(self, ints: np.ndarray) -> None:
        frames, channels = ints.shape
        mono = decode_mono(ints.tobytes(), "s16le", channels)
        assert len(mono) == frames == frame_count(ints.tobytes(), "s16le", channels)
        if channels == 1:  # value / 32768 is exact in float32: the integers come back
            assert np.array_equal(np.round(mono * 32768).astype("<i2"), ints[:, 0])
        else:
            expected = ints.astype(np.float64).mean(axis=1) / 32768
            assert np.allclose(mono, expected, rtol=0, atol=1e-6)

    @FUZZ
    @given(interleaved("<f4", st.floats(-1.0, 1.0, width=32)))
    def test_f32_round_trip(self, floats: np.ndarray) -> None:
        frames, channels = floats.shape
        mono = decode_mono(floats.tobytes(), "f32le", channels)
        assert len(mono) == frames
        if channels == 1:
            assert mono.tobytes() == floats.tobytes()  # bit for bit
        else:
            assert np.allclose(mono, floats.astype(np.float64).mean(axis=1), rtol=0, atol=1e-6)

    @FUZZ
    @given(st.sampled_from(sorted(SAMPLE_BYTES)), CHANNELS, st.binary(max_size=97))
    def test_any_bytes_decode_or_are_refused(self, fmt: str, channels: int, pcm: bytes) -> None:
        whole = len(pcm) % (SAMPLE_BYTES[fmt] * channels) == 0
        try:
            samples = decode_mono(pcm, fmt, channels)
        except PcmError as exc:
            assert not whole or "NaN or infinite" in str(exc)
        else:
            assert whole and len(samples) == frame_count(pcm, fmt, channels)
            assert np.isfinite(samples).all()


class TestFrameCount:
    @pytest.mark.parametrize(
        ("length", "fmt", "channels", "frames"),
        [(3200, "s16le", 1, 1600), (3200, "s16le", 2, 800), (3200, "f32le", 1, 800),
         (3200, "f32le", 2, 400), (0, "f32le", 2, 0)],
    )
    def test_counts_frames_not_bytes_over_two(self, length: int, fmt: str, channels: int,
                                              frames: int) -> None:
        assert frame_count(b"\0" * length, fmt, channels) == frames


class TestRefusals:
    @pytest.mark.parametrize(
        ("pcm", "fmt", "channels", "message"),
        [
            (b"\x00\x00\x00", "s16le", 1, "not whole frames"),
            (b"\x00" * 6, "f32le", 1, "not whole frames"),
            (b"\x00" * 6, "s16le", 2, r"s16le PCM of 6 bytes is not whole frames of 2 channel\(s\) "
                                      r"\(4 bytes each\)"),
            (b"\x00\x00", "u8", 1, "unknown sample format 'u8' \\(s16le or f32le\\)"),
            (b"\x00\x00", "s16le", 0, "0 channels: a frame needs at least one"),
            (np.array([0.0, np.nan, np.inf], "<f4").tobytes(), "f32le", 1,
             "holds 2 NaN or infinite sample"),
        ],
    )
    def test_refuse(self, pcm: bytes, fmt: str, channels: int, message: str) -> None:
        with pytest.raises(PcmError, match=message) as caught:
            decode_mono(pcm, fmt, channels)
        assert isinstance(caught.value, WireError)  # one error tree: a payload that won't read
