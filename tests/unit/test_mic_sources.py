"""WAV reading and writing, framing, and the WAV source's frames and stamps."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
import pytest

from nodes.mic.sources import Framer, WavSource, read_wav, to_pcm16, write_wav


def write_raw(path: Path, raw: bytes, *, rate: int, channels: int, width: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(raw)
    return path


class TestWavFiles:
    def test_round_trip(self, tmp_path: Path) -> None:
        samples = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
        back, rate = read_wav(write_wav(tmp_path / "a.wav", samples, 22050))
        assert rate == 22050
        np.testing.assert_allclose(back, samples, atol=1 / 16000)

    @pytest.mark.parametrize(
        ("raw", "channels", "width", "expected"),
        [
            # stereo 16-bit is averaged to mono
            (np.array([16384, 0, -16384, -16384], "<i2").tobytes(), 2, 2, [0.25, -0.5]),
            # 8-bit WAV is unsigned around 128
            (bytes([128, 192, 64]), 1, 1, [0.0, 0.5, -0.5]),
            # 32-bit integers
            (np.array([2**30], "<i4").tobytes(), 1, 4, [0.5]),
        ],
    )
    def test_formats(self, tmp_path: Path, raw: bytes, channels: int, width: int,
                     expected: list[float]) -> None:
        path = write_raw(tmp_path / "f.wav", raw, rate=8000, channels=channels, width=width)
        samples, _ = read_wav(path)
        np.testing.assert_allclose(samples, expected, atol=1e-4)

    def test_not_a_wav_file(self, tmp_path: Path) -> None:
        (tmp_path / "x.wav").write_bytes(b"not a wav at all")
        with pytest.raises(ValueError, match=r"x\.wav: not a PCM WAV file"):
            read_wav(tmp_path / "x.wav")

    def test_24_bit_is_refused_with_what_works(self, tmp_path: Path) -> None:
        path = write_raw(tmp_path / "w.wav", b"\0" * 6, rate=8000, channels=1, width=3)
        with pytest.raises(ValueError, match=r"24-bit samples are not supported \(8, 16 or 32\)"):
            read_wav(path)


class TestFramer:
    def test_blocks_of_any_size_become_exact_frames_with_exact_stamps(self) -> None:
        framer = Framer(frame_samples=320, sample_rate=16000)  # 20 ms
        frames = []
        for n in range(5):  # 5 blocks of 300 samples, 18.75 ms apart
            block = np.full(300, n / 10, dtype=np.float32)
            frames += framer.push(block, n * 18_750_000)
        assert len(frames) == 4
        assert [f.start_ns for f in frames] == [0, 20_000_000, 40_000_000, 60_000_000]
        assert all(len(f.pcm) == 640 for f in frames)

    def test_samples_are_clipped_to_16_bits(self) -> None:
        assert np.frombuffer(to_pcm16(np.array([2.0, -2.0])), "<i2").tolist() == [32767, -32767]


class TestWavSource:
    async def test_frames_cover_the_file_at_16k_and_stop(self, tmp_path: Path) -> None:
        samples = np.sin(np.arange(44100) / 10).astype(np.float32) * 0.5  # 1 s at 44.1 kHz
        source = WavSource(write_wav(tmp_path / "s.wav", samples, 44100), frame_samples=512,
                           speed=0)
        frames = [f async for f in source.frames()]
        assert len(frames) == 16000 // 512
        stamps = [f.start_ns for f in frames]
        assert all(b - a == 32_000_000 for a, b in itertools.pairwise(stamps))

    async def test_loop_starts_again(self, tmp_path: Path) -> None:
        source = WavSource(write_wav(tmp_path / "s.wav", np.ones(1024, np.float32) * 0.1, 16000),
                           frame_samples=512, loop=True, speed=0)
        frames = []
        async for frame in source.frames():
            frames.append(frame)
            if len(frames) == 5:
                source.close()
        assert len(frames) == 5  # the file holds 2 frames: it looped

    def test_a_file_shorter_than_a_frame_is_refused(self, tmp_path: Path) -> None:
        path = write_wav(tmp_path / "s.wav", np.zeros(100, np.float32), 16000)
        with pytest.raises(ValueError, match="shorter than one 512-sample frame"):
            WavSource(path, frame_samples=512)
