"""Chat typed by a person: one line of stdin is one message, ``user: text`` or just text.

stdin is read in a thread (it may be a terminal, a pipe, a file or closed; asyncio's pipe
readers refuse regular files), so the node lives on whatever stdin is. End of input ends the
source, not the node. Replies are printed on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from messages.chat import ChatMessage

__all__ = ["ConsoleSource", "parse_console_line"]

_NAMED = re.compile(r"^\s*([\w.\-]{1,25}):\s+(.+?)\s*$")


def parse_console_line(line: str, *, default_user: str, seq: int) -> ChatMessage | None:
    """``"alice: hello"`` -> alice says hello; ``"hello"`` -> ``default_user`` says it.
    None for a blank line."""
    text = line.strip()
    if not text:
        return None
    match = _NAMED.match(text)
    user, text = (match.group(1), match.group(2)) if match else (default_user, text)
    return ChatMessage(platform="console", user=user, text=text, channel="console",
                       user_id=user.casefold(), id=f"console-{seq}")


class ConsoleSource:
    """Reads chat lines from ``stream`` (stdin by default).

    Parameters
    ----------
    on_message:
        Called in the event loop for each line.
    default_user:
        The author of lines without ``name:``.
    stream, out:
        Where lines come from and replies go (stdin/stdout by default).
    """

    platform = "console"
    can_send = True

    def __init__(self, on_message: Callable[[ChatMessage], None], *,
                 default_user: str = "viewer", stream: TextIO | None = None,
                 out: TextIO | None = None, counts: Counter[str] | None = None,
                 log: logging.Logger | None = None):
        self.on_message = on_message
        self.default_user = default_user
        self.stream = stream
        self.out = out
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.log = log or logging.getLogger("chat.console")
        self._seq = 0

    async def run(self) -> None:
        """Hand out lines until end of input (then return)."""
        stream = self.stream if self.stream is not None else sys.stdin
        if stream is None or stream.closed:
            self.log.info("console: no stdin; the console source is idle")
            return
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=self._read, args=(stream, loop, lines), daemon=True,
                         name="console-stdin").start()
        while (line := await lines.get()) is not None:
            self._seq += 1
            msg = parse_console_line(line, default_user=self.default_user, seq=self._seq)
            if msg is not None:
                self.counts["console_lines"] += 1
                self.on_message(msg)
        self.log.info("console: end of input")

    @staticmethod
    def _read(stream: TextIO, loop: asyncio.AbstractEventLoop,
              lines: asyncio.Queue[str | None]) -> None:
        def put(item: str | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the node is leaving
                loop.call_soon_threadsafe(lines.put_nowait, item)

        try:
            for line in stream:
                put(line)
        except (OSError, ValueError, UnicodeDecodeError):  # closed or unreadable stdin
            pass
        put(None)

    async def say(self, text: str, *, reply_to: str = "") -> bool:
        out = self.out if self.out is not None else sys.stdout
        try:
            print(f"chat> {text}", file=out, flush=True)
        except (OSError, ValueError):
            return False
        return True

    async def close(self) -> None:
        """Nothing to release: the reader thread is a daemon blocked on stdin."""
