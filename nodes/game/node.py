"""The game node: one game at a time, played by the personas through tool calls and by chat
through votes, saved after every move.

Topics in: ``llm/tool_call`` (a persona's move), ``llm/done`` (a failed move; a line to say
in the game's own chat), ``director/turn`` (which chat line a reply answers), ``chat/message``
(``!move``/``!vote``/``!answer`` votes, ``!game start KIND``/``!game stop`` from moderators
and the broadcaster; every line, for a game that takes requests from chat).
Topics out: ``game/state`` (latched: the game, whose turn, the mover's legal actions, the
position as text, the moves, ``move_id``, attempts), ``game/event``, ``memory/turn`` (the
outcome, persona- and viewer-tagged), ``chat/say`` (why a vote was refused),
``chat/incoming`` (lines from the game's own chat, for the chat node).

A persona's move: the director asks the LLM with the state's actions as tools and the
``move_id`` as the request id (see `nodes.game.moves`); the call of the mover answering the
current ask is applied, any other is counted and dropped. Chat's move: a vote window
(`nodes.game.votes`). The game is saved after every change (`nodes.game.store`) and resumed
at start. Games are plug-ins (`nodes.game.games.GAMES`); this node never names one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from bus.errors import ParameterError, PluginError
from bus.node import Node, NodeOptions
from bus.worker import WorkQueue
from messages.chat import ChatMessage, ChatSay
from messages.director import Turn
from messages.game import GameEvent, GameState
from messages.llm import LlmDone, ToolCall
from messages.memory import ConversationTurn
from nodes.game.games import GAMES, Game, GameHooks, HearsChat, Outcome, Result
from nodes.game.moves import Moves, ranked_calls
from nodes.game.params import Params
from nodes.game.store import GameStore, Loaded, SavedGame, default_state_dir
from nodes.game.votes import VoteWindow

__all__ = ["GameNode"]

Job = Callable[[], Awaitable[None]]

TICK_S = 0.2
"""How often vote windows and move deadlines are looked at."""
JOBS_LIMIT = 256
"""Game changes waiting their turn (each is checked again when it runs)."""
REQUEUE_S = 5.0
"""A vote close or timeout still not run after this is queued again (each job checks the
move_id it is for, so running twice does nothing more)."""
CALLS_TRIED = 10
"""Ranked choices tried when the first is refused (auto moves, vote results)."""
VIEWER_MEMORIES = 50
"""Viewer scores sent to memory at the end of a game: the best ones."""
HOSTS = {"moderator", "broadcaster"}
REPLIES_KEPT = 256
"""Requests remembered as answering the game's own chat (request id -> nothing)."""
CHAT = "chat"


class GameNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("game", options=options)
        self.params = self.declare_parameters(Params)
        verdict = self.check_parameters(msgspec.structs.asdict(self.params), starting=True)
        if verdict is not None:
            raise ParameterError(f"node {self.name}: {verdict[1]}")
        folder = Path(self.params.state_dir) if self.params.state_dir else default_state_dir()
        self.store = GameStore(folder)
        self.hooks = GameHooks(event=self._game_event, changed=self._game_changed,
                               chat=self._game_chat)

        self.state_pub = self.create_publisher(GameState, "game/state")
        self.event_pub = self.create_publisher(GameEvent, "game/event")
        self.memory_pub = self.create_publisher(ConversationTurn, "memory/turn")
        self.say_pub = self.create_publisher(ChatSay, "chat/say")
        self.incoming_pub = self.create_publisher(ChatMessage, "chat/incoming")
        self.create_subscription(ToolCall, "llm/tool_call", self.on_tool_call)
        self.create_subscription(LlmDone, "llm/done", self.on_done)
        self.create_subscription(ChatMessage, "chat/message", self.on_chat)
        self.create_subscription(Turn, "director/turn", self.on_turn)
        self.jobs: WorkQueue[Job] = WorkQueue(self, self._run_job, name="game_jobs",
                                              maxlen=JOBS_LIMIT)
        self.create_timer(TICK_S, self.tick)
        self.add_on_set_parameters_callback(self.check_parameters)

        self.game: Game | None = None
        self.kind = ""
        self.game_id = ""
        self.settings_table: dict[str, Any] = {}
        self.moves = Moves("")
        self.vote: VoteWindow | None = None
        self.replies_left = 0
        self.game_chat_ids: OrderedDict[str, None] = OrderedDict()
        """Chat lines written in the game's own chat, and requests answering them."""
        self._expiry_queued = ("", 0.0)
        """(move_id, when) of the vote close or timeout queued last: not queued again unless
        it has not run after `REQUEUE_S` (a full queue dropped it)."""

    async def on_start(self) -> None:
        self.jobs.start()
        self.jobs.put(self._resume_or_start)

    async def on_shutdown(self) -> None:
        await self.jobs.stop()
        if self.game is not None:
            await self._close_game(self.game)

    def check_parameters(self, changes: dict[str, Any], *,
                         starting: bool = False) -> tuple[bool, str] | None:
        """Refuse a game kind nobody registered, or settings its game refuses; a new
        ``game`` starts (or, '', stops) it once the set is accepted."""
        kinds = [changes.get("game") or "", *changes.get("players", {}),
                 *changes.get("settings", {})]
        for kind in filter(None, kinds):
            if kind not in GAMES:
                return False, f"unknown game {kind!r}; games: {', '.join(GAMES.kinds())}"
        for kind, table in changes.get("settings", {}).items():
            try:
                GAMES.settings(kind, table)
            except PluginError as exc:
                return False, str(exc)
        if "game" in changes and not starting:
            kind = changes["game"]
            self.jobs.put(partial(self._start, kind) if kind else partial(self._stop, "set"))
        return None

    # ------------------------------------------------------------ inputs

    def on_tool_call(self, call: ToolCall) -> None:
        verdict = self.moves.check(call.persona, call.request_id)
        if self.game is None or verdict != "ok":
            self.counters[f"tool_calls_{'no_game' if self.game is None else verdict}"] += 1
            return
        self.jobs.put(partial(self._play_call, call, self.moves.move_id))

    def on_done(self, done: LlmDone) -> None:
        """A move the LLM could not answer with a valid call (it says why in ``error``) fails
        now, not ``move_timeout_s`` later. A valid call always comes before its done and
        moves the game on, so a done answering an older move is stale and ignored. A line
        answering the game's own chat, or one of its moves, is said there too."""
        if self.game is None:
            return
        if not done.error:
            if done.text and isinstance(self.game, HearsChat) and (
                    done.request_id in self.game_chat_ids
                    or done.request_id.startswith(f"{self.game_id}.")):
                self.game.said(done.persona, done.text)
            return
        if self.moves.check(done.persona, done.request_id) == "ok":
            self.jobs.put(partial(self._no_call, done, self.moves.move_id))

    def on_turn(self, turn: Turn) -> None:
        """Remember the replies to a line of the game's own chat (said there when done)."""
        if turn.reply_to and turn.reply_to in self.game_chat_ids:
            self._remember_game_chat(turn.request_id)

    def on_chat(self, msg: ChatMessage) -> None:
        if msg.platform == "minecraft" and msg.id:
            self._remember_game_chat(msg.id)
        command = msg.command.casefold()
        if not command:
            if isinstance(self.game, HearsChat) and self.game.heard(msg):
                self.counters["chat_requests"] += 1
                self._game_changed()
            return
        words = msg.text.split(maxsplit=1)
        text = words[1] if len(words) > 1 else ""
        if command == self.params.game_command.casefold():
            self._game_command(msg, text)
        elif command in {c.casefold() for c in self.params.vote_commands}:
            self._vote(msg, text)

    def _game_command(self, msg: ChatMessage, text: str) -> None:
        who = _viewer(msg)
        if not HOSTS & set(msg.roles):
            self.counters["game_command_denied"] += 1
            self.report_bad_input(who, "chat/message",
                                  f"!{self.params.game_command} is for moderators and the "
                                  "broadcaster")
            return
        verb, _, kind = text.partition(" ")
        verb, kind = verb.casefold(), kind.strip().casefold()
        if verb == "start" and kind in GAMES:
            self.counters["game_command_start"] += 1
            self.jobs.put(partial(self._start, kind))
        elif verb == "stop":
            self.counters["game_command_stop"] += 1
            self.jobs.put(partial(self._stop, f"stopped by {msg.user}"))
        else:
            self.counters["game_command_invalid"] += 1
            usage = (f"usage: !{self.params.game_command} start "
                     f"{'|'.join(GAMES.kinds())} or !{self.params.game_command} stop")
            self._reply(msg, f"unknown game {kind!r}; {usage}" if verb == "start" else usage)

    def _vote(self, msg: ChatMessage, text: str) -> None:
        if self.vote is None:
            self.counters["votes_no_window"] += 1
            return
        cast = self.vote.cast(_viewer(msg), text, time.monotonic())
        self.counters[f"votes_{cast.outcome}"] += 1
        if cast.outcome == "illegal":
            if self.replies_left > 0:
                self.replies_left -= 1
                self._reply(msg, cast.reason)
            else:
                self.counters["vote_replies_held"] += 1

    def tick(self) -> None:
        """Close a vote window whose time is up; count a persona's move that is overdue."""
        move_id, now = self.moves.move_id, time.monotonic()
        queued, queued_at = self._expiry_queued
        if self.game is None or not move_id or (queued == move_id and now - queued_at < REQUEUE_S):
            return
        if self.vote is not None and not self.vote.is_open(now):
            self._expiry_queued = (move_id, now)
            self.jobs.put(partial(self._close_vote, move_id))
        elif (self.vote is None and self.moves.mover != CHAT
              and self.moves.overdue(now, self.params.move_timeout_s)):
            self._expiry_queued = (move_id, now)
            self.jobs.put(partial(self._time_out, move_id))

    # ------------------------------------------------------------ game changes (one at a time)

    async def _run_job(self, job: Job) -> None:
        await job()

    async def _resume_or_start(self) -> None:
        loaded = self.store.load()
        if loaded.problem:
            self._corrupt_save(loaded)
        if loaded.saved is not None and await self._resume(loaded.saved):
            return
        if self.params.game:
            await self._start(self.params.game)
        else:
            self.state_pub.publish(GameState(game=""))

    async def _resume(self, saved: SavedGame) -> bool:
        try:
            cls = GAMES.plugin_class(saved.kind)
            settings = GAMES.settings(saved.kind, saved.settings)
            game: Game = cls.restore(settings, saved.snapshot, self.hooks)  # type: ignore[attr-defined]
        except Exception as exc:  # a game's own restore may fail any way on a bad snapshot
            self._corrupt_save(self.store.set_aside(
                f"the saved {saved.kind} game does not restore: {exc}"))
            return False
        self._take(saved.kind, game, saved.game_id, saved.settings)
        self.moves = Moves(saved.game_id, ask=saved.ask, mover=game.turn(),
                           attempt=saved.attempt, last_error=saved.last_error)
        self.moves.resumed(time.monotonic())
        self.counters["games_resumed"] += 1
        self.log.info("resumed %s game %s at ask %d", saved.kind, saved.game_id, saved.ask)
        self._event("resumed", f"the {saved.kind} game goes on where it stopped",
                    {"moves": len(game.history())})
        self._open_vote()
        self._publish()
        return True

    async def _start(self, kind: str) -> None:
        if self.game is not None:
            await self._stop(f"{kind} starts")
        players = dict(self.params.players.get(kind, {}))
        table = dict(self.params.settings.get(kind, {}))
        try:
            game = GAMES.load(kind, table, players, self.hooks)
        except Exception as exc:  # a game refusing its players or settings: say so, play on
            self.counters["games_refused"] += 1
            self.log.error("cannot start %s: %s", kind, exc)
            self._event("error", f"{kind} cannot start: {exc}", {"kind": kind}, kind=kind)
            return
        self._take(kind, game, uuid.uuid4().hex[:12], table)
        self.moves = Moves(self.game_id)
        self.counters["games_started"] += 1
        announce = getattr(game, "announce", None)  # optional: a game that is no match
        versus = " against ".join(dict.fromkeys(game.players().values()))
        self._event("started", announce() if callable(announce) else
                    f"a game of {kind} starts: {versus}", {"players": game.players()},
                    speak=True)
        await self._next_move()

    async def _stop(self, reason: str) -> None:
        game = self.game
        if game is None:
            return
        self._event("stopped", f"the {self.kind} game was stopped ({reason})", {})
        self._drop_game()
        self.store.clear()
        self.state_pub.publish(GameState(game=""))
        await self._close_game(game)

    async def _play_call(self, call: ToolCall, move_id: str) -> None:
        if self.game is None or self.moves.move_id != move_id:
            self.counters["tool_calls_stale"] += 1
            return
        result = await self._apply(call.persona, call.name, call.arguments)
        if result.ok:
            self.counters["moves_applied"] += 1
            await self._next_move()
            return
        self.counters["moves_invalid"] += 1
        self._event("invalid", result.message,
                    {"name": call.name, "arguments": call.arguments}, persona=call.persona)
        await self._failed(result.message)

    async def _no_call(self, done: LlmDone, move_id: str) -> None:
        if self.game is None or self.moves.move_id != move_id:
            return
        self.counters["moves_without_call"] += 1
        self._event("invalid", f"no valid move: {done.error}", {}, persona=done.persona)
        await self._failed(done.error)

    async def _close_vote(self, move_id: str) -> None:
        if self.game is None or self.vote is None or self.moves.move_id != move_id:
            return
        window, self.vote = self.vote, None
        result = window.result()
        self._event("vote_result", result.summary(), result.data(), speak=True)
        if result.winner is None:
            await self._failed("nobody voted")
            return
        take_ballots = getattr(self.game, "ballots", None)  # optional: scores per viewer
        if callable(take_ballots):
            take_ballots({voter: (c.name, c.arguments) for voter, c in window.ballots().items()})
        for choice, _ in result.counts[:CALLS_TRIED]:
            if (await self._apply(CHAT, choice.name, choice.arguments)).ok:
                await self._next_move()
                return
            self.counters["vote_choices_refused"] += 1
        await self._failed("the game refused chat's choices")

    async def _time_out(self, move_id: str) -> None:
        if self.game is None or self.moves.move_id != move_id:
            return
        self.counters["moves_timed_out"] += 1
        timeout = self.params.move_timeout_s
        self._event("timeout", f"{self.moves.mover} made no move within {timeout:g} s", {},
                    persona=self.moves.mover)
        await self._failed(f"no move within {timeout:g} s")

    async def _failed(self, reason: str) -> None:
        """The move is asked again (new move_id), or played for the mover when out of tries."""
        if self.moves.failed(reason, time.monotonic(), max_attempts=self.params.max_attempts):
            await self._auto_move()
            return
        self._open_vote()
        self._publish()

    async def _auto_move(self) -> None:
        assert self.game is not None
        mover = self.moves.mover
        for name, arguments in ranked_calls(self.game.actions(), CALLS_TRIED):
            result = await self._apply(mover, name, arguments)
            if result.ok:
                self.counters["auto_moves"] += 1
                self._event("auto_move", f"{mover} ran out of tries: {result.message}",
                            {"name": name, "arguments": arguments}, speak=True, persona=mover)
                await self._next_move()
                return
        self.counters["auto_moves_impossible"] += 1
        self._event("auto_move", f"no move could be played for {mover}; asking again", {},
                    persona=mover)
        self.moves.new_move(mover, time.monotonic())
        self._open_vote()
        self._publish()

    async def _apply(self, actor: str, name: str, arguments: dict[str, Any]) -> Result:
        """One call through the game, with a deadline; what it reports is published."""
        assert self.game is not None
        timeout = self.params.apply_timeout_s
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
        # arrives as the call finishes, and the node's close then waited forever for its worker
        try:
            async with asyncio.timeout(timeout):
                result = await self.game.apply(actor, name, dict(arguments))
        except TimeoutError:
            result = Result(False, f"the game did not answer within {timeout:g} s")
        for event, text, data in result.events:
            self._event(event, text, data)
        if result.ok:
            self._event("moved", result.message, {"actor": actor, "name": name,
                                                  "arguments": arguments},
                        persona="" if actor == CHAT else actor)
        return result

    async def _next_move(self) -> None:
        """After a change: the game is over, or the next mover is asked."""
        assert self.game is not None
        outcome = self.game.outcome()
        if outcome is not None:
            await self._finish(outcome)
            return
        self.moves.new_move(self.game.turn(), time.monotonic())
        self._open_vote()
        self._publish()

    async def _finish(self, outcome: Outcome) -> None:
        assert self.game is not None
        game = self.game
        self.counters["games_finished"] += 1
        self._event("finished", outcome.text,
                    {"winners": outcome.winners, "losers": outcome.losers,
                     "scores": dict(_best(outcome.scores, VIEWER_MEMORIES))}, speak=True)
        self._remember(game, outcome)
        self.store.clear()
        self.moves.new_move("", time.monotonic())
        self.vote = None
        self.state_pub.publish(self._state(outcome))
        self._drop_game()
        await self._close_game(game)

    async def _refresh(self) -> None:
        """The game changed by itself (`GameHooks.changed`): publish, or ask the new mover."""
        if self.game is None:
            return
        if self.game.outcome() is not None or self.game.turn() != self.moves.mover:
            await self._next_move()
        else:
            self._publish()

    # ------------------------------------------------------------ helpers

    def _take(self, kind: str, game: Game, game_id: str, table: dict[str, Any]) -> None:
        self.game, self.kind, self.game_id, self.settings_table = game, kind, game_id, table

    def _drop_game(self) -> None:
        self.game, self.vote = None, None
        self.moves = Moves("")

    async def _close_game(self, game: Game) -> None:
        try:
            async with asyncio.timeout(self.params.apply_timeout_s):  # not wait_for: see _apply
                await game.aclose()
        except Exception:
            self.report_callback_failure("game aclose")

    def _open_vote(self) -> None:
        """A vote window when chat moves (a new one each ask); none otherwise."""
        self.vote = None
        if self.game is None or self.moves.mover != CHAT:
            return
        actions = self.game.actions()
        self.vote = VoteWindow(actions, opened_at=time.monotonic(),
                               duration_s=self.params.vote_s,
                               max_voters=self.params.max_voters,
                               normalize=getattr(self.game, "normalize", None))
        self.replies_left = self.params.replies_per_window
        command = (self.params.vote_commands or ("vote",))[0]
        best = ", ".join(self.vote.voting.examples[:3])
        self._event("vote_open",
                    f"chat's move: vote with !{command} <choice> within "
                    f"{self.params.vote_s:g} s" + (f" (for example {best})" if best else ""),
                    {"vote_s": self.params.vote_s, "move_id": self.moves.move_id},
                    speak=True)

    def _state(self, outcome: Outcome | None = None) -> GameState:
        assert self.game is not None
        game, moves = self.game, self.moves
        return GameState(
            game=self.kind, state=game.view(), game_id=self.game_id, players=game.players(),
            turn=moves.mover, actions=game.actions() if moves.mover else [],
            text=game.describe(), moves=game.history(), move_id=moves.move_id,
            attempt=moves.attempt, last_error=moves.last_error,
            finished=outcome is not None, outcome=outcome.text if outcome else "",
            hears_chat=isinstance(game, HearsChat) and outcome is None,
            asks=game.taken() if isinstance(game, HearsChat) else [])

    def _publish(self) -> None:
        """Publish the state and save it: a kill -9 from here on resumes this very ask."""
        assert self.game is not None
        self.state_pub.publish(self._state())
        saved = SavedGame(kind=self.kind, game_id=self.game_id, settings=self.settings_table,
                          players=self.game.players(), ask=self.moves.ask,
                          attempt=self.moves.attempt, last_error=self.moves.last_error,
                          snapshot=self.game.snapshot())
        try:
            self.store.save(saved)
        except OSError as exc:  # play on unsaved: a restart would lose this game
            self.counters["save_failed"] += 1
            self.log.warning("cannot save the game to %s: %s", self.store.path, exc)

    def _event(self, event: str, text: str, data: dict[str, Any], *, speak: bool = False,
               persona: str = "", kind: str = "") -> None:
        self.event_pub.publish(GameEvent(game=kind or self.kind, event=event, data=data,
                                         text=text, speak=speak, persona=persona,
                                         game_id=self.game_id))

    def _game_event(self, event: str, text: str, data: dict[str, Any], speak: bool) -> None:
        self._event(event, text, data, speak=speak)

    def _game_changed(self) -> None:
        self.jobs.put(self._refresh)

    def _game_chat(self, msg: ChatMessage) -> None:
        self.incoming_pub.publish(msg)

    def _remember_game_chat(self, key: str) -> None:
        self.game_chat_ids[key] = None
        while len(self.game_chat_ids) > REPLIES_KEPT:
            self.game_chat_ids.popitem(last=False)

    def _corrupt_save(self, loaded: Loaded) -> None:
        self.counters["corrupt_saves"] += 1
        aside = f"; kept as {loaded.aside}" if loaded.aside else ""
        self.log.warning("the saved game cannot be resumed, starting fresh: %s%s",
                         loaded.problem, aside)
        self._event("corrupt_save", "the saved game could not be read, so we start fresh",
                    {"problem": loaded.problem, "aside": str(loaded.aside or "")}, speak=True)

    def _remember(self, game: Game, outcome: Outcome) -> None:
        """The outcome for memory: one turn per persona who played, one per viewer scored."""
        stamp, what = time.time_ns(), f"{self.kind} (game {self.game_id})"
        for persona in dict.fromkeys(game.players().values()):
            if persona != CHAT and ":" not in persona:
                self._memory(f"{persona}", f"{what}: {outcome.text}", persona=persona,
                             stamp=stamp)
        for viewer, score in _best(outcome.scores, VIEWER_MEMORIES):
            if ":" in viewer:  # platform:user_id
                self._memory(viewer, f"{what}: scored {score}", viewer=viewer, stamp=stamp)

    def _memory(self, who: str, text: str, *, stamp: int, persona: str = "",
                viewer: str = "") -> None:
        self.memory_pub.publish(ConversationTurn(
            turn_id=f"game:{self.game_id}:{who}", speaker="game", text=text, persona=persona,
            viewer=viewer, stream=self.params.stream, stamp_ns=stamp))

    def _reply(self, msg: ChatMessage, text: str) -> None:
        self.say_pub.publish(ChatSay(text=f"@{msg.user} {text}", platform=msg.platform,
                                     channel=msg.channel, reply_to=msg.id))


def _viewer(msg: ChatMessage) -> str:
    return f"{msg.platform}:{msg.user_id or msg.user.casefold()}"


def _best(scores: dict[str, int], count: int) -> list[tuple[str, int]]:
    return sorted(scores.items(), key=lambda item: -item[1])[:count]
