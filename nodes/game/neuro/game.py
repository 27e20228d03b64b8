"""Games written for Neuro-sama's SDK, played by a persona: the ``neuro`` game.

The game node holds this like any other `Game`; behind it a `NeuroServer` accepts every
Neuro-SDK game that connects (several at once). While one of them waits on an
``actions/force``, it is the ``player`` persona's move: `actions` are the forced actions
with the schemas the game registered, `describe` the game's state and query, and `apply`
validates the call against the schema, sends the ``action`` and waits for the game's
``action/result`` (``result_timeout_s``). A refused call leaves the force waiting, as the
spec has the server retry it. Forces from several games are played one at a time, oldest
first. A ``context`` that is not silent is an event for the ``commentator`` persona to react
to; silent context goes into the player's prompt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from messages.game import ActionOption, GameAction
from nodes.game.games import GameError, GameHooks, Outcome, Result
from nodes.game.neuro.protocol import (
    ClientMessage,
    Context,
    ForceActions,
    GracefulData,
    GracefulShutdown,
    ImmediateShutdown,
    RegisterActions,
    ReregisterAll,
    ServerMessage,
    ShutdownReady,
    Startup,
    UnregisterActions,
)
from nodes.game.neuro.server import (
    GameConnection,
    NeuroGameGone,
    NeuroResultTimeout,
    NeuroServer,
)
from nodes.game.neuro.sessions import Force, ForceQueue, GameSession, Limits, clip

__all__ = ["NeuroGames", "NeuroSettings"]

log = logging.getLogger(__name__)

HISTORY_LINES = 200
"""Moves kept for ``game/state`` and the snapshot."""
REPORTED_FALLBACKS = 256
"""(game, action, keywords) already reported as validate-and-retry: bounded, oldest forgotten."""
TIMINGS_KEPT = 1000


class NeuroSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    """Address to listen on; ``0.0.0.0`` lets games on other machines connect."""
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    """Neuro-SDK games connect to ``ws://localhost:8000`` unless told otherwise
    (``NEURO_SDK_WS_URL``); 0: any free port (tests)."""
    player: str = "mika"
    """The persona who plays the games' forced moves."""
    commentator: str = "rook"
    """The persona who reacts to what games say aloud (``context`` that is not silent)."""
    result_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    """How long a game has to answer an ``action`` with ``action/result``."""
    max_context_chars: Annotated[int, msgspec.Meta(ge=100, le=100_000)] = 2000
    """A context message, a force's state or query longer than this is cut (and logged)."""
    context_lines: Annotated[int, msgspec.Meta(ge=1, le=200)] = 12
    """Recent context messages per game kept for the player's prompt."""
    max_games: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8
    """Games connected at once; one more is refused (close code 1013)."""
    max_actions: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 64
    """Actions one game may register."""
    max_schema_chars: Annotated[int, msgspec.Meta(ge=100, le=1_000_000)] = 16_000
    max_message_bytes: Annotated[int, msgspec.Meta(ge=4096, le=64 * 2**20)] = 2**20
    """A frame larger than this closes its connection (WebSocket close 1009): the only way
    to refuse one unread; SDKs reconnect."""
    shutdown_on_stop: Literal["none", "graceful", "immediate"] = "none"
    """What games are sent when the game is stopped (the spec's proposed shutdown
    commands; most games ignore them)."""


class Snapshot(msgspec.Struct, forbid_unknown_fields=True):
    player: str
    commentator: str
    games: list[str] = []
    """Games connected when it was taken (they reconnect by themselves)."""
    history: list[str] = []
    forcing: str = ""
    """The game whose move was being played."""


class NeuroGames:
    """Every connected Neuro-SDK game as one `Game` (see the module docstring)."""

    Settings: ClassVar[type[msgspec.Struct]] = NeuroSettings
    kind = "neuro"

    def __init__(self, settings: NeuroSettings, players: dict[str, str] | None = None,
                 hooks: GameHooks | None = None):
        self.settings = settings
        players = players or {}
        self.player = players.get("player") or settings.player
        self.commentator = players.get("commentator") or settings.commentator
        self.hooks = hooks or GameHooks()
        self.limits = Limits(settings.max_actions, settings.max_context_chars,
                             settings.max_schema_chars, settings.context_lines)
        self.sessions: dict[GameConnection, GameSession] = {}
        self.forces = ForceQueue()
        self.moves: deque[str] = deque(maxlen=HISTORY_LINES)
        self.timings: deque[tuple[int, int, int, int]] = deque(maxlen=TIMINGS_KEPT)
        """(force received, offered to the player, apply called, action sent) ns."""
        self._reported: OrderedDict[tuple[str, str, tuple[str, ...]], None] = OrderedDict()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise GameError("the neuro game starts its server on the running event loop: "
                            "build it from async code") from None
        try:
            self.server = NeuroServer(self, settings.host, settings.port,
                                      max_games=settings.max_games,
                                      max_message_bytes=settings.max_message_bytes)
        except OSError as exc:
            raise GameError(f"neuro: cannot listen on {settings.host}:{settings.port} ({exc}); "
                            "set the neuro game's host/port, or stop what uses it") from None
        self._serving = loop.create_task(self.server.serve(), name="neuro-server")
        log.info("Neuro-SDK games can connect to ws://%s:%d (%s plays, %s comments)",
                 settings.host, self.server.port, self.player, self.commentator)

    @classmethod
    def restore(cls, settings: NeuroSettings, snapshot: dict[str, Any],
                hooks: GameHooks | None = None) -> NeuroGames:
        """A fresh server with the snapshot's players and history. Games reconnect and
        register again by themselves; an event says which ones were connected."""
        try:
            saved = msgspec.convert(snapshot, Snapshot)
        except msgspec.ValidationError as exc:
            raise GameError(f"neuro: the saved game does not restore: {exc}") from None
        game = cls(settings, {"player": saved.player, "commentator": saved.commentator}, hooks)
        game.moves.extend(saved.history)
        waiting = ", ".join(saved.games) or "none"
        text = f"The Neuro game server restarted; games connected before: {waiting}."
        if saved.forcing:
            text += f" {saved.forcing} was waiting for {saved.player}'s move and will ask again."
        game._event("restored", text, {"games": saved.games, "forcing": saved.forcing})
        return game

    # ------------------------------------------------------------------ Game protocol

    def players(self) -> dict[str, str]:
        return {"player": self.player}

    def turn(self) -> str:
        return self.player if self.forces.head() is not None else ""

    def actions(self) -> list[GameAction]:
        force = self.forces.head()
        if force is None:
            return []
        if not force.offered_ns:  # the player is shown the move: the model's time starts
            force.offered_ns = time.perf_counter_ns()
        offered = []
        for name in force.action_names:
            action = force.session.actions[name]
            options = [ActionOption(arguments=choice) for choice in action.choices]
            offered.append(GameAction(name=name, description=action.description,
                                      schema=action.checked.schema, options=options))
        return offered

    def view(self) -> dict[str, Any]:
        force = self.forces.head()
        return {
            "games": [{"game": session.title, "actions": sorted(session.actions),
                       "context": list(session.context)} for session in self.sessions.values()],
            "forcing": force.session.title if force else "",
            "waiting": [queued.session.title for queued in self.forces],
            "player": self.player,
            "commentator": self.commentator,
            "bad_frames": sum(self.server.bad_frames.values()),
        }

    def describe(self) -> str:
        force = self.forces.head()
        if force is None:
            connected = ", ".join(s.title for s in self.sessions.values()) or "none"
            return f"Neuro games connected: {connected}. No game is waiting for a move."
        session, data = force.session, force.data
        lines = [f"Game: {session.title}"]
        lines += [f"- {line}" for line in session.context]
        if data.state:
            lines.append(f"State: {data.state}")
        lines.append(f"Your task: {data.query}")
        if force.attempts:
            lines.append(f"(Attempt {force.attempts + 1}.)")
        return "\n".join(lines)

    def history(self) -> list[str]:
        return list(self.moves)

    def outcome(self) -> Outcome | None:
        return None  # a Neuro game ends on its own side; the server plays on

    def snapshot(self) -> dict[str, Any]:
        force = self.forces.head()
        return msgspec.to_builtins(Snapshot(
            self.player, self.commentator, [s.title for s in self.sessions.values()],
            list(self.moves), force.session.title if force else ""))

    async def apply(self, actor: str, name: str, arguments: dict[str, Any]) -> Result:
        """Validate, send ``action``, wait for ``action/result``. A refusal (ours or the
        game's) leaves the force waiting; a success, a timeout or a disconnect ends it."""
        applied_ns = time.perf_counter_ns()
        force = self.forces.head()
        if force is None:
            return Result(False, "no game is waiting for a move")
        if actor != self.player:
            return Result(False, f"it is {self.player}'s move, not {actor}'s")
        session = force.session
        if name not in force.action_names:
            return Result(False, f"{session.title} asked for one of: "
                                 f"{', '.join(force.action_names)}; not {name!r}")
        if force.in_flight:
            return Result(False, f"a move is already waiting for {session.title}'s answer")
        action = session.actions[name]
        problem = action.checked.problem(arguments)
        if problem is not None:
            force.attempts += 1
            force.offered_ns = 0
            return Result(False, f"invalid {name}: {problem}")
        data = msgspec.json.encode(arguments).decode() if action.checked.has_arguments else None
        force.in_flight = True
        try:
            answer = await self.server.request_action(self._connection_of(session), name, data,
                                                      self.settings.result_timeout_s)
        except NeuroResultTimeout as exc:
            self._end(force, "result_timeout", f"{exc}; its move request is dropped")
            return Result(False, str(exc))
        except NeuroGameGone as exc:
            return Result(False, f"{exc} before answering {name}")
        finally:
            force.in_flight = False
        self.timings.append((force.received_ns, force.offered_ns or applied_ns, applied_ns,
                             answer.sent_ns))
        move = f"{self.player}: {name} {data or ''} in {session.title}".replace("  ", " ")
        if not answer.success:
            force.attempts += 1
            force.offered_ns = 0
            self.moves.append(f"{move} (refused: {answer.message})")
            return Result(False, answer.message or f"{session.title} refused {name}")
        self.moves.append(move)
        if self.forces.finish(force) and not force.data.ephemeral_context:
            for line in (force.data.state, force.data.query):
                if line:
                    session.remember(line)
        self.hooks.changed()
        return Result(True, answer.message or f"{name} done in {session.title}")

    async def aclose(self) -> None:
        commands: dict[str, ServerMessage] = {"graceful": GracefulShutdown(GracefulData(True)),
                                              "immediate": ImmediateShutdown()}
        command = commands.get(self.settings.shutdown_on_stop)
        if command is not None:
            for connection in list(self.sessions):
                await self.server.send(connection, command)
        await self.server.close()
        self._serving.cancel()

    # ------------------------------------------------------------------ the server's listener

    async def on_message(self, connection: GameConnection, message: ClientMessage,
                         received_ns: int) -> None:
        session = self.sessions.get(connection)
        if session is None:
            session = self.sessions[connection] = GameSession(connection.title, self.limits)
            self._event("connected", f"{session.title} connected", {}, game=session.title)
            if not isinstance(message, Startup):
                # we may have restarted under a running game: ask for its actions again
                log.info("%r spoke before its startup: asking it to register its actions again",
                         connection)
                await self.server.send(connection, ReregisterAll())
        match message:
            case Startup():
                self._cancel(session, "it started again")
                session.startup()
                self.hooks.changed()
            case Context(data=data):
                self._context(session, data.message, data.silent)
            case RegisterActions(data=data):
                for note in session.register(data.actions):
                    log.warning("%r: %s", connection, note)
                self._report_fallbacks(session)
                self.hooks.changed()
            case UnregisterActions(data=data):
                session.unregister(data.action_names)
                self._prune(session)
                self.hooks.changed()
            case ForceActions():
                await self._force(connection, session, message, received_ns)
            case ShutdownReady():
                log.info("%r is ready to be shut down", connection)

    def on_closed(self, connection: GameConnection, reason: str) -> None:
        session = self.sessions.pop(connection, None)
        if session is None:
            return
        self._cancel(session, reason)
        self._event("disconnected", f"{session.title} {reason}", {}, game=session.title)
        self.hooks.changed()

    # ------------------------------------------------------------------ helpers

    async def _force(self, connection: GameConnection, session: GameSession,
                     message: ForceActions, received_ns: int) -> None:
        data = message.data
        names = [name for name in dict.fromkeys(data.action_names) if name in session.actions]
        unknown = [name for name in data.action_names if name not in session.actions]
        if unknown:
            log.warning("%r forced actions it never registered: %s", connection,
                        ", ".join(repr(name[:80]) for name in unknown[:10]))
        if not names:
            log.warning("%r: a force with no registered action dropped; asking the game to "
                        "register its actions again", connection)
            await self.server.send(connection, ReregisterAll())
            return
        limit = self.limits.max_text_chars
        query = self._clipped(session, "query", data.query, limit)
        state = self._clipped(session, "state", data.state, limit) if data.state else None
        data = msgspec.structs.replace(data, query=query, state=state)
        replaced = self.forces.put(Force(session, data, names, received_ns))
        if replaced is not None and not replaced.in_flight:
            log.info("%r forced again before its last force was played: the new one "
                     "replaces it", connection)
        self._event("force", query, {"actions": names, "priority": data.priority,
                                     "persona": self.player}, game=session.title)
        self.hooks.changed()

    def _context(self, session: GameSession, message: str, silent: bool) -> None:
        text = self._clipped(session, "context", message, self.limits.max_text_chars)
        session.remember(text)
        self._event("context", text, {"silent": silent, "persona": self.commentator},
                    speak=not silent, game=session.title)
        if silent:
            self.hooks.changed()  # it is in the prompt's text now

    def _clipped(self, session: GameSession, what: str, text: str, limit: int) -> str:
        clipped, cut = clip(text, limit)
        if cut:
            log.warning("%r sent a %s of %d characters: cut to %d (max_context_chars)",
                        session.title, what, len(text), limit)
        return clipped

    def _prune(self, session: GameSession) -> None:
        """Unregistered actions leave the queued force; a force left with none ends."""
        for force in self.forces:
            if force.session is session:
                force.action_names = [n for n in force.action_names if n in session.actions]
                if not force.action_names:
                    self._end(force, "force_cancelled",
                              f"{session.title} unregistered every action it asked for")

    def _cancel(self, session: GameSession, reason: str) -> None:
        force = self.forces.of(session)
        if force is not None:
            self._end(force, "force_cancelled",
                      f"{session.title} {reason}: its move request is cancelled")

    def _end(self, force: Force, event: str, text: str) -> None:
        """Take ``force`` out of the queue without a move, and say why."""
        if self.forces.finish(force):
            log.warning("%s", text)
            self._event(event, text, {"actions": force.action_names}, game=force.session.title)
            self.hooks.changed()

    def _report_fallbacks(self, session: GameSession) -> None:
        for action in session.actions.values():
            keywords = action.checked.unconstrained
            key = (session.title, action.name, keywords)
            if not keywords or key in self._reported:
                continue
            self._reported[key] = None
            if len(self._reported) > REPORTED_FALLBACKS:
                self._reported.popitem(last=False)
            text = (f"{session.title}: the schema of {action.name!r} uses "
                    f"{', '.join(keywords)}, which constrained decoding cannot follow; its "
                    "calls are validated and retried instead")
            log.warning("%s", text)
            self._event("schema_fallback", text, {"action": action.name,
                                                  "keywords": list(keywords)},
                        game=session.title)

    def _connection_of(self, session: GameSession) -> GameConnection:
        for connection, owner in self.sessions.items():
            if owner is session:
                return connection
        raise NeuroGameGone(f"{session.title!r} disconnected")

    def _event(self, event: str, text: str, data: dict[str, Any], speak: bool = False,
               game: str = "") -> None:
        self.hooks.event(event, text, {"game": game, **data} if game else data, speak)

    def overheads_ms(self) -> list[float]:
        """Per action sent: (force received -> action sent) minus (offered -> apply called,
        the model's time), in ms: what the server itself adds."""
        return [((sent - received) - (applied - offered)) / 1e6
                for received, offered, applied, sent in self.timings]
