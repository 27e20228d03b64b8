"""The WebSocket server games built on Neuro-sama's SDK connect to (``ws://HOST:8000``).

Transport only: it accepts up to ``max_games`` connections, names each by the ``game`` of
its first message, decodes every frame (`protocol.decode_client`; a bad one is logged,
counted and dropped, the connection stays open), answers ``action/result`` frames to the
`request_action` waiting for them, and hands every other message to its `Listener` (the
`NeuroGames` game). Every wait has a deadline: a result that never comes is a
`NeuroResultTimeout`, a game that goes away while we wait a `NeuroGameGone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from nodes.game.games import GameError
from nodes.game.neuro.protocol import (
    ActionCommand,
    ActionData,
    ActionResult,
    ClientMessage,
    NeuroWireError,
    ResultData,
    ServerMessage,
    decode_client,
    encode_server,
)

__all__ = ["Answer", "GameConnection", "Listener", "NeuroGameGone", "NeuroResultTimeout",
           "NeuroServer"]

log = logging.getLogger(__name__)

LOGGED_PER_KIND = 3
"""Bad frames of one kind logged in full per connection; after that only counted (a game
stuck in a loop must not flood the log)."""


class NeuroGameGone(GameError):
    """The game disconnected before it answered."""


class NeuroResultTimeout(GameError):
    """The game did not send ``action/result`` within the deadline."""


class GameConnection:
    """One game's WebSocket; ``title`` is "" until its first message names it."""

    def __init__(self, websocket: ServerConnection, number: int):
        self.websocket = websocket
        self.number = number
        self.title = ""
        self.bad_frames: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<game connection {self.number} {self.title!r}>"

    async def send(self, message: ServerMessage) -> None:
        await self.websocket.send(encode_server(message))


@dataclass(frozen=True)
class Answer:
    """A game's ``action/result``."""

    success: bool
    message: str
    sent_ns: int
    """When the ``action`` frame had been written (``time.perf_counter_ns``)."""


class Listener(Protocol):
    async def on_message(self, connection: GameConnection, message: ClientMessage,
                         received_ns: int) -> None: ...

    def on_closed(self, connection: GameConnection, reason: str) -> None: ...


class NeuroServer:
    """Binds ``host:port`` at once (a port in use is a `GameError` now, not later); `serve`
    runs it until `close`."""

    def __init__(self, listener: Listener, host: str, port: int, *, max_games: int,
                 max_message_bytes: int):
        self.listener = listener
        self.max_games = max_games
        self.max_message_bytes = max_message_bytes
        self.connections: dict[int, GameConnection] = {}
        self.bad_frames: Counter[str] = Counter()
        """Bad frames from every game by kind (``json``, ``unknown_command``...)."""
        self._pending: dict[str, tuple[GameConnection, asyncio.Future[ResultData]]] = {}
        self._numbers = iter(range(1, 2**62))
        self._server: Server | None = None
        self._socket = socket.create_server((host, port), reuse_port=False)
        self.port: int = self._socket.getsockname()[1]
        """The port bound (the OS's choice when 0 was asked for)."""

    async def serve(self) -> None:
        """Accept games until `close` (run it as a task)."""
        self._server = await serve(self._handle, sock=self._socket,
                                   max_size=self.max_message_bytes)
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop accepting, close every connection (each one's `Listener.on_closed` runs)."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()
        else:
            self._socket.close()

    async def request_action(self, connection: GameConnection, name: str, data: str | None,
                             timeout_s: float) -> Answer:
        """Send ``action`` with a fresh id and wait for its ``action/result``.

        Raises
        ------
        NeuroResultTimeout
            No result within ``timeout_s`` (sending included).
        NeuroGameGone
            The connection closed before the result came.
        """
        action_id = uuid.uuid4().hex
        future: asyncio.Future[ResultData] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = (connection, future)
        try:
            async with asyncio.timeout(timeout_s):
                await connection.send(ActionCommand(ActionData(id=action_id, name=name,
                                                               data=data)))
                sent_ns = time.perf_counter_ns()
                result = await future
        except TimeoutError:
            raise NeuroResultTimeout(
                f"{connection.title!r} sent no action/result for {name!r} within "
                f"{timeout_s:g} s (result_timeout_s)") from None
        except ConnectionClosed:
            raise NeuroGameGone(f"{connection.title!r} disconnected") from None
        finally:
            self._pending.pop(action_id, None)
        return Answer(result.success, result.message or "", sent_ns)

    async def send(self, connection: GameConnection, message: ServerMessage) -> bool:
        """Send ``message``; False when the connection is gone (logged)."""
        try:
            await connection.send(message)
        except ConnectionClosed:
            log.info("%r: gone before %s could be sent", connection, type(message).__name__)
            return False
        return True

    # ------------------------------------------------------------------ connections

    async def _handle(self, websocket: ServerConnection) -> None:
        if len(self.connections) >= self.max_games:
            log.warning("refused a game connection from %s: %d games connected already "
                        "(max_games)", websocket.remote_address, self.max_games)
            await websocket.close(CloseCode.TRY_AGAIN_LATER, "too many games connected")
            return
        connection = GameConnection(websocket, next(self._numbers))
        self.connections[connection.number] = connection
        reason = "disconnected"
        try:
            async for frame in websocket:
                await self._receive(connection, frame, time.perf_counter_ns())
        except ConnectionClosed as exc:
            if exc.rcvd is None and exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                reason = (f"closed: a frame over {self.max_message_bytes} bytes "
                          "(max_message_bytes)")
                log.warning("%r %s", connection, reason)
        finally:
            del self.connections[connection.number]
            for action_id, (owner, future) in list(self._pending.items()):
                if owner is connection and not future.done():
                    future.set_exception(ConnectionClosed(None, None))
                    del self._pending[action_id]
            self.listener.on_closed(connection, reason)

    async def _receive(self, connection: GameConnection, frame: str | bytes,
                       received_ns: int) -> None:
        try:
            message = decode_client(frame)
        except NeuroWireError as exc:
            self._refuse(connection, exc.kind, str(exc))
            return
        if not connection.title:
            connection.title = message.game[:200]
        elif message.game != connection.title:
            self._refuse(connection, "game_changed",
                         f"game {message.game[:80]!r} on a connection named "
                         f"{connection.title!r} (one game per connection)")
            return
        if isinstance(message, ActionResult):
            self._resolve(connection, message.data)
            return
        try:
            await self.listener.on_message(connection, message, received_ns)
        except ConnectionClosed:
            raise
        except Exception:
            # one message that trips a fault must not end the game's connection
            self.bad_frames["handler_failed"] += 1
            log.exception("%r: handling %s failed; the connection stays open", connection,
                          type(message).__name__)

    def _resolve(self, connection: GameConnection, result: ResultData) -> None:
        pending = self._pending.get(result.id)
        if pending is None or pending[0] is not connection or pending[1].done():
            self._refuse(connection, "unknown_result",
                         f"action/result for an id we are not waiting for: {result.id[:80]!r} "
                         "(late, after its deadline, or never sent)")
            return
        pending[1].set_result(result)

    def _refuse(self, connection: GameConnection, kind: str, reason: str) -> None:
        connection.bad_frames[kind] += 1
        self.bad_frames[kind] += 1
        count = connection.bad_frames[kind]
        if count <= LOGGED_PER_KIND:
            more = " (further ones of this kind only counted)" if count == LOGGED_PER_KIND else ""
            log.warning("%r: dropped a frame: %s; the connection stays open%s", connection,
                        reason, more)
