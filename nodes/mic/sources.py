"""Where microphone audio comes from: a sound device, or a WAV file played at its own pace.

Every source yields `Frame`s of exactly ``frame_samples`` 16-bit mono samples at the target
rate, each stamped with the capture time of its first sample (``time.time_ns()`` scale), so the
rest of the system can measure latency from the moment a sound reached the microphone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nodes.mic.resample import Resampler, resample

__all__ = [
    "DeviceSource",
    "Frame",
    "FrameSource",
    "Framer",
    "WavSource",
    "read_wav",
    "write_wav",
]


@dataclass(frozen=True)
class Frame:
    """One block of captured audio: s16le mono PCM and the capture time of its first sample."""

    pcm: bytes
    start_ns: int


class FrameSource(Protocol):
    """Anything that yields fixed-size frames until it is closed (or runs out)."""

    name: str

    def frames(self) -> AsyncIterator[Frame]: ...

    def close(self) -> None: ...


class Framer:
    """Cuts float32 blocks of any length into s16le frames of exactly ``frame_samples``.

    ``start_ns`` of each frame is derived from the stamp of the block it starts in, so the
    stamps stay exact however the device sizes its blocks.
    """

    def __init__(self, frame_samples: int, sample_rate: int):
        self.frame_samples = frame_samples
        self.sample_rate = sample_rate
        self._pending = np.zeros(0, dtype=np.float32)
        self._pending_start_ns = 0

    def push(self, block: np.ndarray, block_start_ns: int) -> list[Frame]:
        """Add a block whose first sample was captured at ``block_start_ns``; return full frames."""
        if len(self._pending) == 0:
            self._pending_start_ns = block_start_ns
        self._pending = np.concatenate([self._pending, block.astype(np.float32, copy=False)])
        frames = []
        while len(self._pending) >= self.frame_samples:
            chunk = self._pending[: self.frame_samples]
            self._pending = self._pending[self.frame_samples:]
            frames.append(Frame(to_pcm16(chunk), self._pending_start_ns))
            self._pending_start_ns += self.frame_samples * 1_000_000_000 // self.sample_rate
        return frames


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> s16le bytes (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A WAV file as mono float32 in [-1, 1] and its sample rate (8/16/32-bit PCM)."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from None
    kinds = {1: ("u1", 128.0, 128.0), 2: ("<i2", 0.0, 32768.0), 4: ("<i4", 0.0, 2147483648.0)}
    if width not in kinds:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported (8, 16 or 32)")
    dtype, bias, scale = kinds[width]
    samples = (np.frombuffer(raw, dtype=dtype).astype(np.float32) - bias) / scale
    return samples.reshape(-1, channels).mean(axis=1), rate


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono float32 samples as a 16-bit WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(to_pcm16(samples))
    return Path(path)


class WavSource:
    """Plays a WAV file as if a microphone were hearing it, paced by the clock.

    Parameters
    ----------
    path:
        The file (any rate, mono or stereo, 8/16/32-bit PCM); converted to ``sample_rate``.
    frame_samples, sample_rate:
        Frame size and rate of the frames produced.
    loop:
        Start again at the end instead of stopping.
    speed:
        1.0 paces frames in real time (a frame leaves when its last sample would have been
        heard); 2.0 twice as fast; 0 as fast as possible. Capture stamps advance by the
        audio's own duration whatever the pace, so times inside the audio stay right.
    """

    def __init__(self, path: str | Path, *, frame_samples: int, sample_rate: int = 16000,
                 loop: bool = False, speed: float = 1.0):
        samples, rate = read_wav(path)
        self.name = f"wav:{Path(path).name}"
        self.samples = resample(samples, rate, sample_rate)
        if len(self.samples) < frame_samples:
            raise ValueError(f"{path}: shorter than one {frame_samples}-sample frame")
        self.frame_samples = frame_samples
        self.sample_rate = sample_rate
        self.loop = loop
        self.speed = speed
        self._closed = False

    async def frames(self) -> AsyncIterator[Frame]:
        frame_ns = self.frame_samples * 1_000_000_000 // self.sample_rate
        step_s = frame_ns / 1e9 / self.speed if self.speed > 0 else 0.0
        loop = asyncio.get_running_loop()
        start_wall_ns = time.time_ns()
        start_mono = loop.time()
        index = 0
        while not self._closed:
            for offset in range(0, len(self.samples) - self.frame_samples + 1, self.frame_samples):
                if self._closed:
                    return
                due = start_mono + (index + 1) * step_s
                delay = due - loop.time()
                await asyncio.sleep(max(0.0, delay))
                pcm = to_pcm16(self.samples[offset: offset + self.frame_samples])
                yield Frame(pcm, start_wall_ns + index * frame_ns)
                index += 1
            if not self.loop:
                return

    def close(self) -> None:
        self._closed = True


class DeviceSource:
    """Captures from a sound device with PortAudio (through ``sounddevice``).

    Parameters
    ----------
    device:
        A device index or a (part of a) name as ``python -m sounddevice`` lists them; ``""`` is
        the default input. ``"pulse"`` reaches the PulseAudio server.
    pulse_source:
        With PulseAudio, the source to record (``pactl list short sources``: a microphone, or
        ``NAME.monitor`` of a sink); empty keeps PulseAudio's default source.
    frame_samples, sample_rate:
        Frames produced; a device that cannot run at ``sample_rate`` is opened at its own
        default rate and converted.
    """

    def __init__(self, device: str = "", *, pulse_source: str = "", frame_samples: int,
                 sample_rate: int = 16000):
        try:
            import sounddevice
        except OSError as exc:  # the Python package is there, the PortAudio library is not
            raise RuntimeError(f"sounddevice cannot load PortAudio ({exc}): "
                               "install it with `apt-get install libportaudio2`") from None
        if pulse_source:
            # PortAudio's ALSA "pulse" device records PulseAudio's default source unless told
            os.environ["PULSE_SOURCE"] = pulse_source
        self._sd = sounddevice
        self.device: int | str | None = int(device) if device.isdigit() else (device or None)
        info: Any = sounddevice.query_devices(self.device, kind="input")
        self.name = f"device:{info['name']}" + (f" ({pulse_source})" if pulse_source else "")
        self.sample_rate = sample_rate
        self.device_rate = sample_rate
        try:
            sounddevice.check_input_settings(self.device, channels=1, dtype="float32",
                                             samplerate=sample_rate)
        except sounddevice.PortAudioError:
            self.device_rate = int(info["default_samplerate"])
        self._resampler = Resampler(self.device_rate, sample_rate)
        self._framer = Framer(frame_samples, sample_rate)
        self._stream: Any = None
        self._queue: asyncio.Queue[Frame | None] | None = None
        self.overflows = 0

    async def frames(self) -> AsyncIterator[Frame]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._queue = queue

        def on_block(block: np.ndarray, count: int, times: Any, status: Any) -> None:
            # PortAudio's thread: stamp the block with the clock, corrected by how long ago
            # the ADC captured its first sample
            now_ns = time.time_ns()
            age_s = max(0.0, times.currentTime - times.inputBufferAdcTime) if times else 0.0
            if status.input_overflow:
                self.overflows += 1
            converted = self._resampler.process(block[:, 0])
            for frame in self._framer.push(converted, now_ns - int(age_s * 1e9)):
                loop.call_soon_threadsafe(queue.put_nowait, frame)

        def on_finished() -> None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(queue.put_nowait, None)

        self._stream = self._sd.InputStream(
            device=self.device, channels=1, dtype="float32", samplerate=self.device_rate,
            blocksize=0, latency="low", callback=on_block, finished_callback=on_finished,
        )
        self._stream.start()
        while (frame := await queue.get()) is not None:
            yield frame

    def close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.stop()
                self._stream.close()
            self._stream = None
        if self._queue is not None:
            self._queue.put_nowait(None)
