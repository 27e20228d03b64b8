"""Screen capture for the watch node: what to grab (`Source`, parsed from the ``source``
parameter) and a `Capturer` that grabs it with mss on its own thread, downscaled at once.

Sources: ``screen`` (every monitor as one picture), ``monitor:N`` (mss numbers monitors from
1), ``window:TITLE`` (a top-level X11 window whose name contains TITLE, found with
``xdotool search --name``, its place looked up again each frame so a moved window is
followed) and ``region:X,Y,W,H`` (pixels of the whole screen). A window is grabbed as the
screen shows it: what covers it is in the picture too.

mss on X11 keeps one connection per object and is used from one thread only: the
`Capturer`'s. A display that goes away closes it; the next grab connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from bus.errors import ParameterError, PluginError
from nodes.watch.frames import downscale

__all__ = ["CaptureError", "Capturer", "NoDisplayError", "Source", "WindowNotFoundError",
           "no_display_message", "parse_source"]

XDOTOOL_TIMEOUT_S = 2.0
WINDOWS_MEASURED = 8
"""Windows matching a title whose size is asked (the largest is taken)."""
_ERE_SPECIAL = re.compile(r"([.\[\]()*+?{}|^$\\])")


class CaptureError(PluginError):
    """The source cannot be grabbed now (the node tries again)."""


class NoDisplayError(CaptureError):
    """No X display to grab: DISPLAY is unset or refuses."""


class WindowNotFoundError(CaptureError):
    """No visible window has the title asked for (yet, or any more)."""


Kind = Literal["screen", "monitor", "window", "region"]


@dataclass(frozen=True)
class Source:
    """What to grab: ``kind`` and its one argument."""

    kind: Kind
    monitor: int = 0
    title: str = ""
    region: tuple[int, int, int, int] = (0, 0, 0, 0)
    """left, top, width, height"""

    def label(self) -> str:
        """How `messages.game.GameFrame.source` names it."""
        if self.kind == "monitor":
            return f"monitor {self.monitor}"
        if self.kind == "window":
            return f"window {self.title!r}"
        if self.kind == "region":
            left, top, width, height = self.region
            return f"region {width}x{height} at {left},{top}"
        return "screen"


def parse_source(text: str) -> Source | None:
    """The source ``text`` names (None for '', off); a ParameterError saying the forms
    otherwise."""
    if not text:
        return None
    kind, _, argument = text.partition(":")
    if kind == "screen" and not argument:
        return Source("screen")
    if kind == "monitor" and argument.isdigit() and int(argument) >= 1:
        return Source("monitor", monitor=int(argument))
    if kind == "window" and argument.strip():
        return Source("window", title=argument)
    if kind == "region":
        numbers = argument.split(",")
        if len(numbers) == 4 and all(n.strip().isdigit() for n in numbers):
            left, top, width, height = (int(n) for n in numbers)
            if width > 0 and height > 0:
                return Source("region", region=(left, top, width, height))
    raise ParameterError(f"source {text!r} is not one of: '' (off), screen, monitor:N (N from "
                         "1), window:TITLE, region:X,Y,W,H (W and H above 0)")


def no_display_message(exc: object) -> str:
    """Why there is nothing to grab, and how to give the node a display."""
    display = os.environ.get("DISPLAY", "")
    why = f"DISPLAY={display} refuses" if display else "DISPLAY is not set"
    return (f"no display: {why} ({exc}): run the watch node on the machine with the screen, "
            "or set DISPLAY=:0; for a headless test start Xvfb (`Xvfb :99 &`) and set "
            "DISPLAY=:99")


Box = tuple[int, int, int, int]
"""left, top, width, height"""


class Capturer:
    """Grabs sources with mss on one thread of its own and downscales them there."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="watch-capture")
        self._mss: Any = None
        self._window: tuple[str, str] | None = None
        """(title, X window id) of the window found last, followed until it is gone."""

    async def grab(self, source: Source, width: int) -> Image.Image:
        """``source`` now, ``width`` pixels wide at most (RGB); a `CaptureError` when it
        cannot be grabbed."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._grab, source, width)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ on the capture thread

    def _grab(self, source: Source, width: int) -> Image.Image:
        screen = self._connect()
        bounds = screen.monitors[0]
        if source.kind == "screen":
            box: Box = (bounds["left"], bounds["top"], bounds["width"], bounds["height"])
        elif source.kind == "monitor":
            monitors = screen.monitors[1:]
            if source.monitor > len(monitors):
                raise CaptureError(f"monitor {source.monitor} does not exist: this display has "
                                   f"{len(monitors)} (monitor:1 to monitor:{len(monitors)})")
            chosen = monitors[source.monitor - 1]
            box = (chosen["left"], chosen["top"], chosen["width"], chosen["height"])
        elif source.kind == "window":
            box = self._window_box(source.title)
        else:
            box = source.region
        clipped = _clip(box, (bounds["left"], bounds["top"], bounds["width"], bounds["height"]))
        if clipped is None:
            raise CaptureError(f"{source.label()} is outside the screen "
                               f"({bounds['width']}x{bounds['height']})")
        left, top, w, h = clipped
        try:
            shot = screen.grab({"left": left, "top": top, "width": w, "height": h})
        except Exception as exc:  # mss's XError: the display went away under us
            self._disconnect()
            raise NoDisplayError(no_display_message(exc)) from exc
        picture = Image.frombuffer("RGB", shot.size, shot.bgra, "raw", "BGRX", 0, 1)
        return downscale(picture, width)

    def _connect(self) -> Any:
        if self._mss is None:
            import mss

            try:
                self._mss = mss.MSS()
            except Exception as exc:  # XError (a ScreenShotError): unset or refusing DISPLAY
                raise NoDisplayError(no_display_message(exc)) from exc
        return self._mss

    def _disconnect(self) -> None:
        screen, self._mss = self._mss, None
        if screen is not None:
            with contextlib.suppress(Exception):  # a connection to a display already gone
                screen.close()

    def _window_box(self, title: str) -> Box:
        """Where the window called ``title`` is now: the window found before while it
        exists, else the largest visible one whose name matches."""
        if self._window is not None and self._window[0] == title:
            box = _geometry(self._window[1])
            if box is not None:
                return box
        self._window = None
        found = [(wid, box) for wid in _search(title)[:WINDOWS_MEASURED]
                 if (box := _geometry(wid)) is not None]
        if not found:
            raise WindowNotFoundError(f"window {title!r} not found (xdotool search --name, on "
                                      f"DISPLAY={os.environ.get('DISPLAY', '')})")
        wid, box = max(found, key=lambda item: item[1][2] * item[1][3])
        self._window = (title, wid)
        return box


def _clip(box: Box, bounds: Box) -> Box | None:
    left, top = max(box[0], bounds[0]), max(box[1], bounds[1])
    right = min(box[0] + box[2], bounds[0] + bounds[2])
    bottom = min(box[1] + box[3], bounds[1] + bounds[3])
    if right <= left or bottom <= top:
        return None
    return left, top, right - left, bottom - top


def _xdotool(*args: str) -> subprocess.CompletedProcess[str] | None:
    """xdotool's answer, or None when it fails (no such window); a CaptureError when it is
    not installed, a NoDisplayError when it cannot open the display."""
    try:
        done = subprocess.run(["xdotool", *args], capture_output=True, text=True,
                              timeout=XDOTOOL_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise CaptureError("xdotool is not installed: it finds windows by title "
                           "(apt-get install xdotool)") from exc
    except subprocess.TimeoutExpired:
        return None
    if "Can't open display" in done.stderr:
        raise NoDisplayError(no_display_message(done.stderr.strip()))
    return done if done.returncode == 0 else None


def _search(title: str) -> list[str]:
    """Ids of the visible windows whose name contains ``title`` (taken literally: xdotool
    reads a regular expression, so its special characters are escaped)."""
    done = _xdotool("search", "--onlyvisible", "--name", _ERE_SPECIAL.sub(r"\\\1", title))
    return done.stdout.split() if done is not None else []


def _geometry(window_id: str) -> Box | None:
    done = _xdotool("getwindowgeometry", "--shell", window_id)
    if done is None:
        return None
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    try:
        box = (int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"]))
    except (KeyError, ValueError):
        return None
    return box if box[2] > 0 and box[3] > 0 else None
