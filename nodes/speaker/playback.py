"""Audio outputs behind one Protocol: a sound device (PortAudio), or WAV files.

An output pulls blocks from the mixer at its own pace and reports, for each block, when its
first frame is heard. ``sounddevice`` reaches PulseAudio through ALSA's pulse plugin
(libasound2-plugins), so a PulseAudio sink (a null sink that OBS records) is chosen with
``pulse_sink``, which sets ``PULSE_SINK`` before PortAudio starts. A machine with no sound
device gets `WavOutput`: the same pacing, the audio written to files in the run folder.
"""

from __future__ import annotations

import os
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bus.errors import VtError
from nodes.speaker.mixer import Block

__all__ = ["AudioOutput", "OutputError", "Pull", "Report", "SoundDeviceOutput", "WavOutput"]

Pull = Callable[[int], Block]
"""``pull(frames)`` -> the next block (called from the output's thread)."""
Report = Callable[[int, Block], None]
"""``report(audible_ns, block)``: the block's first frame is heard at ``audible_ns``
(``time.time_ns()`` scale); called from the output's thread."""


class OutputError(VtError):
    """The output cannot be opened; the message says which device and why (the node falls
    back to WAV files; a WAV folder it cannot make ends a start as a fatal line)."""


class AudioOutput(Protocol):
    sample_rate: int
    latency_s: float
    """Nominal time from a block's hand-over to its first frame being heard."""
    description: str
    underflows: int
    """Blocks the device wanted before we had them ready (heard as a gap)."""

    def start(self, pull: Pull, report: Report) -> None: ...

    def close(self) -> None: ...


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


class SoundDeviceOutput:
    """A PortAudio output stream; the block's audible time comes from the DAC time."""

    def __init__(self, device: str, *, sample_rate: int, channels: int, block_frames: int,
                 latency: float | str, pulse_sink: str = ""):
        if pulse_sink:
            os.environ["PULSE_SINK"] = pulse_sink  # read by the ALSA pulse plugin on open
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # OSError: libportaudio2 missing
            raise OutputError(
                f"sounddevice cannot start ({exc}): apt-get install libportaudio2") from None
        self._sd = sounddevice
        chosen: int | str | None = None
        if device:
            chosen = int(device) if device.isdigit() else device
        elif pulse_sink:
            chosen = "pulse"
        self.sample_rate = sample_rate
        self.channels = channels
        self.block_frames = block_frames
        self.requested_latency = latency
        self.device = chosen
        self.latency_s = 0.0
        self.underflows = 0
        self.description = f"sound device {chosen if chosen is not None else 'default'}" + (
            f" (PulseAudio sink {pulse_sink})" if pulse_sink else "")
        self._stream: Any = None
        try:
            self._sd.check_output_settings(device=chosen, channels=channels, dtype="float32",
                                           samplerate=sample_rate)
        except Exception as exc:  # PortAudioError or ValueError: no such device / format
            raise OutputError(f"{self.description} cannot play {sample_rate} Hz: {exc}") from None

    def start(self, pull: Pull, report: Report) -> None:
        clock_offset_ns = 0

        def callback(outdata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
            nonlocal clock_offset_ns
            if status.output_underflow:
                self.underflows += 1
            block = pull(frames)
            outdata[:] = block.samples[:, None]
            ahead = timing.outputBufferDacTime - timing.currentTime
            if timing.outputBufferDacTime <= 0 or ahead < 0 or ahead > 2:  # no DAC time given
                ahead = self.latency_s
            report(time.time_ns() + int(ahead * 1e9), block)

        try:
            self._stream = self._sd.OutputStream(
                samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                blocksize=self.block_frames, latency=self.requested_latency,
                device=self.device, callback=callback,
            )
            self._stream.start()
        except Exception as exc:
            raise OutputError(f"{self.description} failed to open: {exc}") from None
        self.latency_s = float(self._stream.latency)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.abort()  # stop now: no draining what is queued
            self._stream.close()
            self._stream = None


class WavOutput:
    """Real-time paced output into WAV files: one file per stretch of speech, named after
    the request heard first in it (``<folder>/0001-<request>.wav``)."""

    def __init__(self, folder: Path, *, sample_rate: int, block_frames: int,
                 idle_close_s: float = 0.5):
        self.folder = folder
        self.sample_rate = sample_rate
        self.block_frames = block_frames
        self.idle_close_s = idle_close_s
        self.latency_s = 0.0
        self.description = f"WAV files in {folder}"
        self.underflows = 0
        self.files: list[Path] = []
        self._writer: wave.Wave_write | None = None
        self._silent_blocks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot make the WAV folder {folder}: {exc}") from None

    def start(self, pull: Pull, report: Report) -> None:
        self._thread = threading.Thread(target=self._run, args=(pull, report), name="wav out",
                                        daemon=True)
        self._thread.start()

    def _run(self, pull: Pull, report: Report) -> None:
        period = self.block_frames / self.sample_rate
        due = time.monotonic()
        idle_blocks = max(1, int(self.idle_close_s / period))
        while not self._stop.is_set():
            block = pull(self.block_frames)
            report(time.time_ns(), block)
            if block.segments:
                self._silent_blocks = 0
                self._write(block)
            elif self._writer is not None:
                self._silent_blocks += 1
                if self._silent_blocks >= idle_blocks:
                    self._close_file()
                else:
                    self._write(block)  # keep short pauses between sentences
            due += period
            self._stop.wait(max(0.0, due - time.monotonic()))
        self._close_file()

    def _write(self, block: Block) -> None:
        if self._writer is None:
            name = block.segments[0].request_id or "audio"
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
            path = self.folder / f"{len(self.files) + 1:04d}-{safe}.wav"
            self._writer = wave.open(str(path), "wb")  # noqa: SIM115  (open across blocks)
            self._writer.setnchannels(1)
            self._writer.setsampwidth(2)
            self._writer.setframerate(self.sample_rate)
            self.files.append(path)
        self._writer.writeframes(_to_int16(block.samples).tobytes())

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
