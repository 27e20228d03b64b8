"""A real Neuro-SDK game for tests: written with ``neuro-api`` (the Python SDK on PyPI).

The SDK is trio-based, so `NeuroGameClient` runs its client in a thread of its own with
``trio.run`` and the asyncio tests (and `measure_overhead`) drive it from threads:
``await client.send(lambda api: api.send_context("hi"))``, ``await client.action()``. What
the server sends arrives through the SDK's own parsing (``AbstractNeuroAPI.read_message``):
an ``action`` the SDK could not read would be an error in `errors`, not a silent pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio_websocket
from neuro_api.api import NeuroAction, NeuroStartupData
from neuro_api.command import Action
from neuro_api.trio_ws import TrioNeuroAPI

__all__ = ["Action", "GuessingGame", "NeuroAction", "NeuroGameClient", "StandInPlayer",
           "measure_overhead"]

T = TypeVar("T")
Answer = Callable[[NeuroAction], "tuple[bool, str | None] | None"]
"""What the game answers an ``action``: (success, message), or None for no answer at all."""


class _Api(TrioNeuroAPI):
    """The SDK's client with its handlers recording what the server sent."""

    def __init__(self, title: str, connection: trio_websocket.WebSocketConnection,
                 owner: NeuroGameClient):
        super().__init__(title, connection)
        self.owner = owner

    async def handle_startup_acknowledgement(self, startup_ack: NeuroStartupData) -> None:
        pass  # recorded with every other command in read_raw_server_message

    async def handle_action(self, action: NeuroAction) -> None:
        answer = self.owner.answer(action)
        if answer is not None:
            await self.send_action_result(action.id_, *answer)
        self.owner.actions.put(action)

    async def read_raw_server_message(self) -> tuple[str, dict[str, object] | None]:
        command, data = await super().read_raw_server_message()
        if command != "action":  # actions go to `actions` once handled
            self.owner.received.put((command, data))
        return command, data

    async def register_actions(self, actions: list[Action]) -> None:
        self.owner.registrations += 1
        await super().register_actions(actions)


class NeuroGameClient:
    """One game connected to ``url``, its SDK client in a thread (``async with`` it).

    ``answer`` decides each ``action``'s result (default: success). Every action received is
    put on `actions` once answered; every other command from the server on `received` as
    (command, data), before the SDK handles it (it answers ``actions/reregister_all`` and the
    shutdown requests by itself).
    """

    def __init__(self, url: str, title: str, answer: Answer | None = None):
        self.url = url
        self.title = title
        self.answer: Answer = answer or (lambda action: (True, None))
        self.actions: queue.Queue[NeuroAction] = queue.Queue()
        self.received: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.errors: list[BaseException] = []
        self.registrations = 0
        """``actions/register`` frames sent (the SDK sends one by itself on reregister_all)."""
        self._api: _Api | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"neuro-game-{title}",
                                        daemon=True)

    def start(self) -> NeuroGameClient:
        """Connect (blocking: from asyncio, ``await client.__aenter__()`` or ``async with``)."""
        self._thread.start()
        if not self._ready.wait(10.0) or self._api is None:
            raise RuntimeError(f"{self.title}: could not connect to {self.url}: {self.errors}")
        return self

    def stop(self) -> None:
        self.disconnect()
        self._thread.join(10.0)

    async def __aenter__(self) -> NeuroGameClient:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def call(self, step: Callable[[_Api], Awaitable[T]]) -> T:
        """Run ``step(api)`` in the client's trio thread and return what it returned."""
        assert self._api is not None and self._token is not None
        api = self._api
        return trio.from_thread.run(lambda: step(api), trio_token=self._token)

    async def send(self, step: Callable[[_Api], Awaitable[T]]) -> T:
        """`call` from asyncio code (the loop keeps serving meanwhile)."""
        return await asyncio.to_thread(self.call, step)

    async def action(self, timeout: float = 10.0) -> NeuroAction:
        """The next ``action`` the game received (waits up to ``timeout``)."""
        return await asyncio.to_thread(self.actions.get, True, timeout)

    async def command(self, timeout: float = 10.0) -> tuple[str, Any]:
        """The next other command the game received, as (command, data)."""
        return await asyncio.to_thread(self.received.get, True, timeout)

    def disconnect(self) -> None:
        """Close the connection (the server sees the game go)."""
        if self._api is not None and not self._api.not_connected and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError, RuntimeError):
                self.call(lambda api: api.connection.aclose())

    @property
    def connected(self) -> bool:
        return self._api is not None and not self._api.not_connected

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported by the test that reads `errors`
            self.errors.append(exc)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio_websocket.open_websocket_url(self.url) as websocket:
            self._api = _Api(self.title, websocket, self)
            self._ready.set()
            try:
                while not self._api.not_connected:
                    await self._api.read_message()
            except trio_websocket.ConnectionClosed:
                self._api.connect(None)


class GuessingGame:
    """A number guessing game as a Neuro integration: the secret is 1-10, one ``guess``
    action whose schema is an enum of the numbers not tried yet; "too low/high" comes back
    as the result's message."""

    def __init__(self, secret: int = 7):
        self.secret = secret
        self.guesses: list[int] = []

    def schema(self) -> dict[str, Any]:
        left = [n for n in range(1, 11) if n not in self.guesses]
        return {"type": "object", "properties": {"number": {"type": "integer", "enum": left}},
                "required": ["number"]}

    def action(self) -> Action:
        return Action("guess", "Guess the secret number", self.schema())

    def answer(self, action: NeuroAction) -> tuple[bool, str | None]:
        import json

        try:
            number = json.loads(action.data or "")["number"]
        except (ValueError, KeyError, TypeError):
            return False, "send {\"number\": N}"
        self.guesses.append(number)
        if number == self.secret:
            return True, "correct!"
        return True, "too low" if number < self.secret else "too high"


class StandInPlayer:
    """An instant player for a `NeuroGames`: whenever the game says something changed and it
    is the player's move, it applies the first listed choice of the first action (no model
    time). Give `changed` to the game's hooks; run `play` as a task."""

    def __init__(self) -> None:
        self.game: Any = None
        self.results: list[Any] = []
        self._wake = asyncio.Event()

    def changed(self) -> None:
        self._wake.set()

    async def play(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.game is not None and (actions := self.game.actions()):
                self.results.append(await self.game.apply(
                    self.game.player, actions[0].name, actions[0].options[0].arguments))


async def measure_overhead(rounds: int = 200) -> dict[str, list[float]]:
    """What ``neuro_overhead_p50_ms`` is taken from (``benchmarks/game.py`` takes the
    percentiles): a real ``neuro-api`` game forces ``rounds`` moves one after the other, a
    `StandInPlayer` applies each at once. ``overhead_ms``, per move: (actions/force received
    -> action sent) minus (offered -> apply called, the model's time); ``round_trip_ms``:
    force sent -> action handled, as the game sees it."""
    from nodes.game.games import GameHooks
    from nodes.game.neuro.game import NeuroGames, NeuroSettings

    player = StandInPlayer()
    game = player.game = NeuroGames(NeuroSettings(port=0), {}, GameHooks(changed=player.changed))
    playing = asyncio.get_running_loop().create_task(player.play())
    round_trips: list[float] = []

    def drive(client: NeuroGameClient) -> None:
        schema = {"type": "object", "properties": {"cell": {"enum": [1, 2, 3]}},
                  "required": ["cell"]}
        client.call(lambda api: api.send_startup_command())
        client.call(lambda api: api.register_actions([Action("play", "a move", schema)]))
        for _ in range(rounds):
            started = time.perf_counter()
            client.call(lambda api: api.send_force_action("board", "your move", ["play"]))
            client.actions.get(timeout=10.0)
            round_trips.append((time.perf_counter() - started) * 1000)

    try:
        async with NeuroGameClient(f"ws://127.0.0.1:{game.server.port}", "Overhead Bench") as client:
            await asyncio.to_thread(drive, client)
        overheads = game.overheads_ms()
    finally:
        playing.cancel()
        await game.aclose()
    return {"overhead_ms": overheads, "round_trip_ms": round_trips}
