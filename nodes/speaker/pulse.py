"""A private PulseAudio server with a null sink, and captures of the sink's monitor.

Streamers feed OBS through a PulseAudio null sink; tests and benchmarks use the same thing to
hear, headless, exactly what the speaker played: ``PulseServer`` starts its own server in a
fresh runtime folder (no session bus, no user config), ``capture()`` records the sink's
monitor with ``parec``. Clients reach it through ``env`` (``PULSE_SERVER``); PortAudio reaches it
through ALSA's ``pulse`` device (libasound2-plugins).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bus.errors import VtError

__all__ = ["Capture", "PulseServer", "PulseUnavailable"]


class PulseUnavailable(VtError):
    """PulseAudio cannot run here; the message says what is missing."""


class Capture:
    """``parec`` recording a monitor as mono s16le at ``rate``, read by a thread."""

    def __init__(self, env: dict[str, str], source: str, rate: int):
        self.rate = rate
        self._data = bytearray()
        self._proc = subprocess.Popen(
            ["parec", "-d", source, f"--rate={rate}", "--channels=1", "--format=s16le",
             "--raw", "--latency-msec=10"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read1(4096):  # type: ignore[attr-defined]
            self._data += chunk

    def samples(self) -> np.ndarray:
        """What was captured so far, as float32 in [-1, 1]."""
        data = bytes(self._data)
        return np.frombuffer(data[: len(data) // 2 * 2], np.int16).astype(np.float32) / 32768

    def stop(self) -> np.ndarray:
        self._proc.terminate()
        self._proc.wait(5)
        self._reader.join(5)
        return self.samples()


class PulseServer:
    """``pulseaudio`` in the foreground with one null sink named ``sink``."""

    def __init__(self, sink: str = "vt_test", rate: int = 48000):
        self.sink = sink
        self.rate = rate
        self.folder = Path(tempfile.mkdtemp(prefix="vt-pulse-", dir="/tmp"))
        self.socket = self.folder / "native"
        self.env = {
            **os.environ,
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_RUNTIME_PATH": str(self.folder),
            "XDG_RUNTIME_DIR": str(self.folder),
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self.log = self.folder / "pulseaudio.log"

    def start(self, timeout: float = 10.0) -> PulseServer:
        for tool in ("pulseaudio", "pactl", "parec"):
            if shutil.which(tool) is None:
                raise PulseUnavailable(f"{tool} is not installed (apt-get install pulseaudio "
                                       "pulseaudio-utils)")
        with open(self.log, "wb") as log:
            self._proc = subprocess.Popen(
                ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
                 "--use-pid-file=no", "--disallow-exit", "--disable-shm=yes",
                 f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
                 f"--load=module-null-sink sink_name={self.sink} rate={self.rate} channels=1"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PulseUnavailable(f"pulseaudio exited with {self._proc.returncode}: "
                                       f"{self.log.read_text(errors='replace')[-600:]}")
            probe = subprocess.run(["pactl", "list", "short", "sinks"], env=self.env,
                                   capture_output=True, text=True)
            if probe.returncode == 0 and self.sink in probe.stdout:
                return self
            time.sleep(0.1)
        self.stop()
        raise PulseUnavailable(f"pulseaudio did not offer sink {self.sink} within {timeout} s")

    def capture(self, rate: int | None = None) -> Capture:
        return Capture(self.env, f"{self.sink}.monitor", rate or self.rate)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PulseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
