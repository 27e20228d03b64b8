"""A real X display for the tests: Xvfb on a free display number, 1280x720x24.

`Xvfb` lets the server pick the number (``-displayfd``: it writes the first free one once it
listens), then waits until a client can connect (mss, as the watch node does). The session
fixture ``x_display`` (tests/conftest.py) starts one for every test that asks and stops it at
the end; ``display`` sets ``DISPLAY`` to it for one test.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterator
from types import TracebackType

__all__ = ["Xvfb", "x_display_session"]

START_TIMEOUT_S = 20.0


class Xvfb:
    """An Xvfb server of its own (``-nolisten tcp``: unix socket only)."""

    def __init__(self, width: int = 1280, height: int = 720):
        self.size = (width, height)
        self.number = -1
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        """The ``DISPLAY`` value, e.g. ``":99"``."""
        return f":{self.number}"

    def start(self) -> Xvfb:
        read_end, write_end = os.pipe()
        width, height = self.size
        try:
            self.proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24",
                 "-nolisten", "tcp", "-noreset"],
                pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.close(write_end)
            self.number = int(self._read_number(read_end))
        finally:
            os.close(read_end)
        self._wait_connectable()
        return self

    def _read_number(self, fd: int) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        text = b""
        while not text.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            chunk = os.read(fd, 16) if ready else b""
            if not chunk:
                self.stop()
                raise RuntimeError(f"Xvfb gave no display number within {START_TIMEOUT_S} s "
                                   "(is it installed? apt-get install xvfb)")
            text += chunk
        return text.decode().strip()

    def _wait_connectable(self) -> None:
        import mss

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with mss.MSS(display=self.name) as screen:
                    screen.grab(screen.monitors[0])
                return
            except mss.ScreenShotError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"Xvfb {self.name} refused connections for "
                                       f"{START_TIMEOUT_S} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def __enter__(self) -> Xvfb:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def x_display_session() -> Iterator[Xvfb]:
    """The body of the session fixture ``x_display``: one Xvfb for every test that asks."""
    with Xvfb() as server:
        yield server
