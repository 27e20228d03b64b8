"""Chat typed by a person: one line of stdin is one message, ``user: text`` or just text.

stdin is read in a thread (it may be a terminal, a pipe, a file or closed; asyncio's pipe
readers refuse regular files), so the node lives on whatever stdin is. End of input ends the
source, not the node. Replies are printed on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
from typing import Annotated, TextIO

import msgspec

from messages.chat import ChatMessage
from nodes.chat.sources import SourceHooks

__all__ = ["ConsoleSettings", "ConsoleSource", "parse_console_line"]

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


class ConsoleSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How console lines are read.

    Attributes
    ----------
    user:
        The author of lines without ``name:`` (the node's ``console_user``).
    """

    user: Annotated[str, msgspec.Meta(min_length=1)] = "viewer"


class ConsoleSource:
    """Reads chat lines from ``stream`` (stdin by default) into ``hooks.on_message``.

    Parameters
    ----------
    settings:
        Who writes lines without a name.
    hooks:
        What the node gives every source.
    stream, out:
        Where lines come from and replies go (stdin/stdout by default).
    """

    Settings = ConsoleSettings
    platform = "console"
    can_send = True

    def __init__(self, settings: ConsoleSettings, hooks: SourceHooks, *,
                 stream: TextIO | None = None, out: TextIO | None = None):
        self.settings = settings
        self.hooks = hooks
        self.stream = stream
        self.out = out
        self.log = hooks.log
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
            msg = parse_console_line(line, default_user=self.settings.user, seq=self._seq)
            if msg is not None:
                self.hooks.counts["console_lines"] += 1
                self.hooks.on_message(msg)
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
