"""Every program's log lines on one screen, each behind its coloured name.

supervisord writes each program's output to ``logs/NAME.log`` in the run folder, and its own
to ``sv-SHARE.log`` (kept for later, rotated at 10 MB); `LogTail` follows those files and
`Prefixer` prints their lines. A program's line is text from outside (a viewer's name it
logged, a tool's colours): it is printed with its control characters spelled out
(`bus.text.escape_control`), so it can neither move the cursor, clear the screen nor start a
line of its own; the only escape sequences on the terminal are the names' colours.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import zlib
from pathlib import Path
from typing import TextIO

from bus.text import escape_control

__all__ = ["LogTail", "Prefixer"]

_COLOURS = (36, 32, 33, 35, 34, 96, 92, 93, 95, 94)


_ROUTINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?:DEBUG|INFO) ")
"""A routine line: a node's or supervisord's DEBUG or INFO record (``bus.run.LOG_FORMAT``)."""
_CLEAR_LINE = "\r\x1b[K"


class Prefixer:
    """Prints ``name | line`` with the name in a colour of its own (at a terminal).

    While ``folding`` (a show starting at a terminal), routine lines (DEBUG and INFO
    records) are not printed one under the other but shown in one progress line, rewritten
    in place; warnings, errors and anything else are printed as always, above it. The
    folded lines stay in the log files; `stop_folding` ends it (every node up).
    """

    def __init__(self, names: list[str], *, colour: bool | None = None, out: TextIO | None = None,
                 fold: bool = False):
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.width = max((len(n) for n in names), default=8)
        self.folding = fold
        self.progress = ""
        """What the progress line starts with (``3 of 10 nodes on the bus``)."""
        self._latest = ""
        self._drawn = False

    def line(self, name: str, text: str) -> None:
        routine = _ROUTINE.match(text)
        if self.folding and routine:  # without its stamp: the width is for the words
            self._latest = escape_control(f"{name} | {text[routine.end():]}")
            self._draw()
            return
        self._clear()
        self.out.write(f"{self._label(name)} | {escape_control(text)}\n")
        if self.folding:
            self._draw()

    def set_progress(self, text: str) -> None:
        self.progress = text
        if self.folding:
            self._draw()

    def stop_folding(self) -> None:
        """Remove the progress line; print every line from now on."""
        self._clear()
        self.folding = False

    def flush(self) -> None:
        self.out.flush()

    def _label(self, name: str) -> str:
        label = f"{escape_control(name):<{self.width}}"
        if self.colour:
            code = _COLOURS[zlib.crc32(name.encode()) % len(_COLOURS)]
            label = f"\x1b[{code}m{label}\x1b[0m"
        return label

    def _draw(self) -> None:
        columns = shutil.get_terminal_size().columns - 1  # the last column would wrap
        shown = " | ".join(part for part in (self.progress, self._latest) if part)
        self.out.write(_CLEAR_LINE + shown[:max(columns, 10)])
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.out.write(_CLEAR_LINE)
            self._drawn = False


class _Followed:
    def __init__(self, path: Path):
        self.path = path
        self.file = path.open("rb")
        self.inode = os.fstat(self.file.fileno()).st_ino
        self.partial = b""

    def read_lines(self) -> list[str]:
        lines = self._split(self.file.read())
        if self._replaced():  # rotated: the old file is finished, go on with the new one
            if self.partial:
                lines.append(self.partial.decode(errors="replace"))
                self.partial = b""
            self.file.close()
            self.file = self.path.open("rb")
            self.inode = os.fstat(self.file.fileno()).st_ino
            lines += self._split(self.file.read())
        return lines

    def _replaced(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self.inode
        except FileNotFoundError:  # between the rename and the new file
            return False

    def _split(self, data: bytes) -> list[str]:
        *complete, self.partial = (self.partial + data).split(b"\n")
        return [c.decode(errors="replace").rstrip("\r") for c in complete]

    def rest(self) -> list[str]:
        lines = self.read_lines()
        if self.partial:
            lines.append(self.partial.decode(errors="replace"))
            self.partial = b""
        return lines

    def close(self) -> None:
        self.file.close()


class LogTail:
    """Follows log files (by the name they are shown under) from their start."""

    def __init__(self, files: dict[str, Path], prefixer: Prefixer, *,
                 hide: tuple[str, ...] = ()):
        self.files = files
        self.prefixer = prefixer
        self.hide = hide
        """Lines containing one of these are returned but not printed."""
        self._followed: dict[str, _Followed] = {}

    def pump(self, *, final: bool = False) -> list[tuple[str, str]]:
        """Print what was written since the last call (``final``: partial lines too) and
        return it as (name, line) pairs."""
        printed = []
        for name, path in self.files.items():
            followed = self._followed.get(name)
            if followed is None:
                if not path.exists():
                    continue
                followed = self._followed[name] = _Followed(path)
            for text in followed.rest() if final else followed.read_lines():
                if not any(h in text for h in self.hide):
                    self.prefixer.line(name, text)
                printed.append((name, text))
        self.prefixer.flush()
        return printed

    def close(self) -> None:
        for followed in self._followed.values():
            followed.close()
