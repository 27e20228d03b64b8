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
import sys
import zlib
from pathlib import Path
from typing import TextIO

from bus.text import escape_control

__all__ = ["LogTail", "Prefixer"]

_COLOURS = (36, 32, 33, 35, 34, 96, 92, 93, 95, 94)


class Prefixer:
    """Prints ``name | line`` with the name in a colour of its own (at a terminal)."""

    def __init__(self, names: list[str], *, colour: bool | None = None, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.width = max((len(n) for n in names), default=8)

    def line(self, name: str, text: str) -> None:
        label = f"{name:<{self.width}}"
        if self.colour:
            code = _COLOURS[zlib.crc32(name.encode()) % len(_COLOURS)]
            label = f"\x1b[{code}m{label}\x1b[0m"
        self.out.write(f"{label} | {escape_control(text)}\n")

    def flush(self) -> None:
        self.out.flush()


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
