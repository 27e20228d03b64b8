"""Line connections to Twitch chat: IRC over TCP/TLS (``irc://``, ``ircs://``) or over a
WebSocket (``ws://``, ``wss://``), behind one small interface."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Protocol
from urllib.parse import urlsplit

import websockets

__all__ = ["TRANSPORT_ERRORS", "LineConnection", "connect"]

TRANSPORT_ERRORS = (OSError, TimeoutError, ValueError, websockets.WebSocketException)
"""What a connection attempt or a broken connection raises (ssl.SSLError is an OSError)."""

_DEFAULT_PORTS = {"irc": 6667, "ircs": 6697, "ws": 80, "wss": 443}


class LineConnection(Protocol):
    """Text lines in and out, ``\\r\\n`` handled by the connection."""

    async def read_line(self) -> str | None:
        """The next line, or None when the peer closed the connection."""
        ...

    async def send_line(self, line: str) -> None: ...

    async def close(self) -> None: ...


class _StreamConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    async def read_line(self) -> str | None:
        raw = await self.reader.readline()
        if not raw:
            return None
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def send_line(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()


class _WebSocketConnection:
    """Twitch may pack several IRC lines into one WebSocket text frame."""

    def __init__(self, ws: websockets.ClientConnection):
        self.ws = ws
        self._pending: list[str] = []

    async def read_line(self) -> str | None:
        while not self._pending:
            try:
                frame = await self.ws.recv()
            except websockets.ConnectionClosed:
                return None
            text = frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
            self._pending = [line for line in text.split("\r\n") if line]
        return self._pending.pop(0)

    async def send_line(self, line: str) -> None:
        await self.ws.send(line)

    async def close(self) -> None:
        await self.ws.close()


def _tls_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


async def connect(url: str, *, ca_file: str = "", server_hostname: str = "",
                  timeout: float = 10.0) -> LineConnection:
    """Open ``url`` (``ircs://host:port``, ``irc://``, ``wss://host:port/``, ``ws://``).

    ``ca_file`` adds a trusted CA (a test's self-signed certificate); ``server_hostname`` is
    the name the certificate must carry when it differs from the URL's host.
    """
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"Twitch chat URL {url!r}: expected ircs://, irc://, wss:// or ws:// "
                         "with a host")
    host = parts.hostname
    port = parts.port or _DEFAULT_PORTS[scheme]
    tls = scheme in ("ircs", "wss")
    context = _tls_context(ca_file) if tls else None
    name = (server_hostname or host) if tls else None
    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
    async with asyncio.timeout(timeout):
        if scheme in ("irc", "ircs"):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=name, limit=1 << 20)
            return _StreamConnection(reader, writer)
        ws = await websockets.connect(url, ssl=context, open_timeout=timeout,
                                      max_size=1 << 20, server_hostname=name)
        return _WebSocketConnection(ws)
