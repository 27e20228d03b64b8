"""vtlaunch's own node: chat typed at its terminal, and the personas' sentences shown there.

supervisord gives its programs no terminal, so vtlaunch reads the person's lines itself and
hands them to the chat node on ``chat/incoming``, where they are triaged like any platform's
chat (``user: text`` or just text, as the chat node's console source reads them). It also
follows the speaker's playhead and hands each sentence, as it becomes audible, to ``said``
(`launch.speech.SpokenLines`).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from bus.address import resolve
from bus.node import Node, NodeOptions
from bus.transport import ZmqTransport
from launch.speech import SpokenLines
from messages.audio import Playhead
from messages.chat import ChatMessage
from nodes.chat.sources.console import parse_console_line

__all__ = ["ConsoleBridge"]


class ConsoleBridge:
    """A daemon thread running a hidden node that publishes each line of ``stream`` (when
    ``chat``) and calls ``said(persona, text)`` for each sentence heard (when given; from
    that thread)."""

    def __init__(self, bus_url: str, *, topic: str = "chat/incoming", user: str = "viewer",
                 stream: TextIO | None = None, chat: bool = True,
                 said: Callable[[str, str], None] | None = None, keys: str | None = None):
        self.bus_url = bus_url
        self.keys = keys
        """CURVE keys folder (vtlaunch's ``--keys``); None: ``VT_BUS_KEYS``."""
        self.topic = topic
        self.user = user
        self.stream = stream or sys.stdin
        self.chat = chat
        self.said = said
        self.sent = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()),
                                        name="console-chat", daemon=True)

    def start(self) -> ConsoleBridge:
        self._thread.start()
        return self

    async def _run(self) -> None:
        transport = ZmqTransport(resolve(self.bus_url, keys=self.keys))
        node = Node("_vtlaunch_console", options=NodeOptions(bus=self.bus_url, hidden=True,
                                                             transport=transport))
        publisher = node.create_publisher(ChatMessage, self.topic)
        if self.said is not None:
            said, spoken = self.said, SpokenLines()

            def on_playhead(playhead: Playhead) -> None:
                line = spoken.heard(playhead)
                if line is not None:
                    said(*line)

            node.create_subscription(Playhead, "audio/playhead", on_playhead)
        await node.start()
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str] = asyncio.Queue()
        if self.chat:
            # a daemon thread of its own: an executor's thread blocked in readline would keep
            # vtlaunch from exiting after Ctrl-C
            threading.Thread(target=self._read, args=(loop, lines), name="console-stdin",
                             daemon=True).start()
        try:
            while line := await lines.get():  # "" is the end of input: the show goes on
                msg = parse_console_line(line, default_user=self.user, seq=self.sent)
                if msg is not None:
                    publisher.publish(msg)
                    self.sent += 1
            if self.said is not None:
                await asyncio.Future()  # the end of input: the sentences go on being shown
        finally:
            await node.close()

    def _read(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str]) -> None:
        try:
            for line in iter(self.stream.readline, ""):
                loop.call_soon_threadsafe(lines.put_nowait, line)
        except (OSError, ValueError, UnicodeDecodeError):
            pass  # closed or unreadable: the same as the end of input
        loop.call_soon_threadsafe(lines.put_nowait, "")
