"""Minecraft: the personas as bots in one world, carrying out what chat asks of them.

Each persona of ``players`` (persona -> persona, default ``{"mika": "mika", "rook": "rook"}``)
is a mineflayer bot driven by the sidecar (`nodes.game.minecraft.sidecar`), started on the
game's first async use. A chat line that names a persona and asks for something ("Rook, get
some dirt", `nodes.game.minecraft.asks.parse_ask`) is taken as an ask (`heard`); the oldest
open ask whose bot is online makes its persona the mover (`turn`). A parsed intent offers
one action, its arguments pinned by ``enum`` (a 135M model cannot get it wrong); free text
(a ``task``) offers ``run_skill`` (the closest library skills), ``write_skill`` (a new
async JavaScript function over the primitives, run in the sidecar's isolated-vm sandbox)
and the primitives. `apply` runs the call, then verifies the ask's `Check` against the bot's
fresh state (Voyager's self-verification): done -> event ``task_done`` (spoken); not done ->
a refused `Result` with the reason and the bot's state, so the game node asks again with it
as ``last_error``; after a failure ``give_up`` is legal too (ranked last, so the node's
``auto_move`` ends an impossible ask). A verified ``write_skill`` is kept in the skill
library (`nodes.game.minecraft.skills`). In-game chat from other players comes out through
`GameHooks.chat` (platform ``minecraft``); a persona's line answering it is said there
(`said`). The game never finishes by itself.

Servers: the launch file starts a flying-squid on 127.0.0.1 (offline mode). A real server
(vanilla, Paper) takes ``host``, ``port``, ``version`` and ``auth``. With ``auth =
"microsoft"`` each bot's name in ``bots`` is the Microsoft account (its e-mail) that owns
Minecraft; on its first start the sidecar logs a line (in the game node's log) saying which
page to open and which code to enter; the streamer signs in there once per account, and the
tokens are cached in ``token_cache_dir`` (keep that folder private) so later starts need no
login. No password or token ever passes through this process or its logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from bus.text import escape_control
from messages.chat import ChatMessage
from messages.game import ActionOption, GameAction
from nodes.game.games import GameError, GameHooks, Outcome, Result
from nodes.game.games.rules import check_call, object_schema, show, word_list
from nodes.game.minecraft.asks import Ask, parse_ask
from nodes.game.minecraft.checks import Check, verify, with_baseline
from nodes.game.minecraft.sidecar import Sidecar, SidecarError
from nodes.game.minecraft.skills import MAX_CODE_BYTES, Skill, SkillLibrary, SkillRefused
from nodes.game.store import default_state_dir

__all__ = ["Bot", "Minecraft", "MinecraftSettings", "OpenAsk", "ask_actions", "place_cells",
           "state_summary"]

log = logging.getLogger(__name__)

SHIPPED_SKILLS = Path(__file__).parents[1] / "minecraft" / "skills"
HISTORY_LINES = 200
TAKEN_KEPT = 64
"""Chat ids of taken asks listed in the state (newest last)."""
CHAT_CHARS = 256
"""Minecraft's own chat line limit."""
USERNAME = re.compile(r"^[A-Za-z0-9_]{3,16}$")
STATE_CALL_S = 3.0
"""Deadline of the ``state`` call that reads a bot after an action."""
SETTLE_S = 2.0
"""How long a check not met right after a call is read again (a drop is picked up a tick or
two after the block broke)."""
FOLLOW_SETTLE_S = 8.0
"""The same for ``follow``, which answers at once and then walks."""
SETTLE_POLL_S = 0.25
SKILL_GRACE_S = 5.0
"""A skill's call waits this much past the skill's own limit (the sandbox says why first)."""
LISTED = 6
"""Inventory items, blocks and players named in a one-line state summary."""

_NUMBER: dict[str, Any] = {"type": "number"}
_TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}
_XYZ = {"x": _NUMBER, "y": _NUMBER, "z": _NUMBER}
PRIMITIVES: dict[str, tuple[str, dict[str, Any]]] = {
    "goto": ("Walk to the coordinates x y z", _XYZ),
    "goto_player": ("Walk to a player", {"player": _TEXT}),
    "goto_block": ("Walk to the nearest block of a kind (oak_log, dirt...)", {"block": _TEXT}),
    "follow": ("Keep following a player until told to stop", {"player": _TEXT}),
    "stop": ("Stop what you are doing", {}),
    "collect": ("Mine and pick up blocks of a kind",
                {"block": _TEXT, "count": {"type": "integer", "minimum": 1, "maximum": 64}}),
    "dig": ("Break the block at x y z", _XYZ),
    "place": ("Place a block from your inventory at x y z (air next to a solid block)",
              {"item": _TEXT, **_XYZ}),
    "equip": ("Hold an item from your inventory", {"item": _TEXT}),
    "look_at": ("Look at x y z", _XYZ),
    "chat": ("Say something in the game chat",
             {"text": {"type": "string", "minLength": 1, "maxLength": CHAT_CHARS}}),
}
"""The sidecar's ops offered as tools: op -> (description, argument properties)."""
PLACE_SIDES = ((1, 0), (0, 1), (-1, 0), (0, -1))
"""Cells beside the bot's feet tried in turn for an asked-for block."""
INTENT_OPS = {"come": "goto_player"}
"""An ask's intent -> the op that does it, where the names differ."""


class MinecraftSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    """The server's address (the launch file's flying-squid listens on 127.0.0.1)."""
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 25565
    version: str = "1.21.4"
    """The protocol version the bots speak; the server must speak it too."""
    auth: Literal["offline", "microsoft"] = "offline"
    """``offline`` (a local or offline-mode server) or ``microsoft`` (see the module docstring)."""
    token_cache_dir: str = ""
    """``microsoft``: where sign-in tokens are cached ('' = $VT_DATA_DIR/minecraft/auth, else
    ~/.local/share/vtshow/minecraft/auth). Private: it holds the accounts' tokens."""
    bots: dict[str, str] = msgspec.field(default_factory=lambda: {"mika": "Mika",
                                                                   "rook": "Rook"})
    """persona -> in-game name (microsoft: the account's e-mail); a persona not listed plays
    under its own name capitalised."""
    streamer: str = ""
    """The streamer's in-game name: "come to me" from the console or the broadcaster means them."""
    node: str = "node"
    """The Node.js binary (a name on PATH or a path)."""
    skills_dir: str = ""
    """Where learned skills are kept ('' = $VT_DATA_DIR/minecraft/skills, else
    ~/.local/share/vtshow/minecraft/skills); the shipped ones are read from the project."""
    skill_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0
    skill_memory_mb: Annotated[int, msgspec.Meta(ge=8, le=1024)] = 32
    action_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 20.0
    """One action's limit. A call also reads the bot's state before and after (3 s each at
    most): keep this 6 s below the game node's ``apply_timeout_s`` (30 s)."""
    max_asks: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    """Open asks per persona; more are not taken (the director answers them as chat)."""
    skills_offered: Annotated[int, msgspec.Meta(ge=1, le=20)] = 4
    """Closest library skills offered for a task."""
    state_period_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 1000
    reconnect_ms: tuple[int, int] = (500, 5000)
    """A bot's reconnect backoff (first, longest) after a kick or a refused connection."""


@dataclass
class Bot:
    persona: str
    username: str
    online: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    """The sidecar's latest state of it."""
    problem: str = ""
    """Why it is not online, in words (the sidecar's last error)."""


class OpenAsk(msgspec.Struct, kw_only=True):
    """An ask waiting to be done, with how often it failed."""

    ask: Ask
    failures: int = 0
    check: Check | None = None
    """The ask's check pinned at its first try (an inventory count on top of what the bot
    held then): a retry must not move the goal by what the last try gathered."""
    closest: list[str] | None = None
    """Library skills offered for it (a task), ranked; worked out once."""

    def goal(self, before: dict[str, Any]) -> Check:
        """The check every try is verified against, pinned at the first from the state
        ``before`` it (`check`)."""
        if self.check is None:
            self.check = with_baseline(self.ask.check, before)
        return self.check


class _Saved(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["minecraft"]
    players: dict[str, str]
    asks: list[OpenAsk] = []
    history: list[str] = []


def _float(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "?"


def _listed(counts: object, limit: int = LISTED) -> str:
    if not isinstance(counts, dict) or not counts:
        return "nothing"
    items = sorted(counts.items(), key=lambda item: -item[1] if isinstance(item[1], int) else 0)
    text = ", ".join(f"{escape_control(str(name))[:32]} {count}" for name, count in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def state_summary(bot: Bot) -> str:
    """One line about a bot for a prompt or an error: where it is, health, what it holds
    and sees (lists cut to a few items)."""
    state = bot.state
    if not bot.online:
        return f"{bot.username} is offline" + (f" ({bot.problem})" if bot.problem else "")
    position = state.get("position")
    where = ("(" + ", ".join(_float(c) for c in position) + ")"
             if isinstance(position, list) else "somewhere")
    players = state.get("nearby_players")
    seen = ", ".join(f"{escape_control(str(p.get('name')))[:16]} {_float(p.get('distance'))} away"
                     for p in players[:LISTED] if isinstance(p, dict)) if isinstance(
                         players, list) and players else "nobody"
    task = f"; doing: {escape_control(str(state['task']))[:60]}" if state.get("task") else ""
    return (f"{bot.username} at {where}, health {_float(state.get('health'))}, food "
            f"{_float(state.get('food'))}; inventory: {_listed(state.get('inventory'))}; "
            f"blocks near: {_listed(state.get('nearby_blocks'))}; players near: {seen}{task}")


def _pinned(op: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``op``'s schema with each of ``arguments`` the only value allowed (an ``enum`` of one)."""
    known = PRIMITIVES.get(op, ("", {}))[1]
    properties = {name: {**known.get(name, {}), "enum": [value]}
                  for name, value in arguments.items()}
    return object_schema(properties)


class Minecraft:
    """The personas' bots in one Minecraft world (see the module docstring)."""

    Settings: ClassVar[type[msgspec.Struct]] = MinecraftSettings
    kind = "minecraft"

    def __init__(self, settings: MinecraftSettings, players: Mapping[str, str] | None = None,
                 hooks: GameHooks | None = None):
        self.settings = settings
        self.hooks = hooks or GameHooks()
        cast = dict(players or {persona: persona for persona in settings.bots})
        if not cast or any(side != who or not who for side, who in cast.items()):
            raise GameError(f"minecraft players: persona -> the same persona, e.g. "
                            f"{{'mika': 'mika'}}; got {show(cast)}")
        self.bots: dict[str, Bot] = {}
        for persona in cast:
            username = settings.bots.get(persona) or persona.capitalize()
            if settings.auth == "offline" and not USERNAME.match(username):
                raise GameError(f"minecraft: {persona}'s in-game name {show(username)} must "
                                "be 3 to 16 letters, digits or _ (the bots setting)")
            self.bots[persona] = Bot(persona, username)
        self.asks: deque[OpenAsk] = deque()
        self.taken_ids: deque[str] = deque(maxlen=TAKEN_KEPT)
        self.moves: deque[str] = deque(maxlen=HISTORY_LINES)
        self.library: SkillLibrary | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self.sidecar = Sidecar(self._config(), self._on_event, node=settings.node)
        self.sidecar.check_setup()  # no node or no node_modules: say so now, not in a task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise GameError("the minecraft game starts its sidecar on the running event "
                            "loop: build it from async code") from None
        self._boot = loop.create_task(self._start(), name="minecraft-start")

    @classmethod
    def restore(cls, settings: MinecraftSettings, snapshot: Mapping[str, Any],
                hooks: GameHooks | None = None) -> Minecraft:
        """A fresh sidecar (the bots join again) with the saved open asks and history."""
        try:
            saved = msgspec.convert(dict(snapshot), _Saved)
        except (msgspec.ValidationError, TypeError) as exc:
            raise GameError(f"minecraft: the saved game does not restore: {exc}") from None
        game = cls(settings, saved.players, hooks)
        for open_ask in saved.asks:
            if open_ask.ask.persona in game.bots:
                game.asks.append(open_ask)
                game.taken_ids.append(open_ask.ask.chat_id)
        game.moves.extend(saved.history)
        return game

    def _config(self) -> dict[str, Any]:
        settings = self.settings
        config: dict[str, Any] = {
            "host": settings.host, "port": settings.port, "version": settings.version,
            "auth": settings.auth,
            "bots": [{"persona": b.persona, "username": b.username} for b in self.bots.values()],
            "state_period_ms": settings.state_period_ms,
            "skill": {"timeout_ms": int(settings.skill_timeout_s * 1000),
                      "memory_mb": settings.skill_memory_mb},
            "reconnect_ms": list(settings.reconnect_ms)}
        if settings.auth == "microsoft":
            config["profiles_folder"] = settings.token_cache_dir or str(
                default_state_dir().parent / "minecraft" / "auth")
        return config

    async def _start(self) -> None:
        user_dir = Path(self.settings.skills_dir) if self.settings.skills_dir else (
            default_state_dir().parent / "minecraft" / "skills")
        try:
            self.library = await asyncio.to_thread(_library, user_dir)
            await self.sidecar.start()
        except Exception as exc:  # no model, no sidecar: said, and the bots stay offline
            log.error("minecraft cannot start: %s", exc)
            self.hooks.event("error", f"minecraft cannot start: {exc}", {}, False)
            return
        self.hooks.changed()

    # ------------------------------------------------------------------ the sidecar's events

    def _on_event(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        bot = self.bots.get(str(message.get("bot", "")))
        if event == "state" and bot is not None and isinstance(message.get("state"), dict):
            bot.state = message["state"]
            if not bot.online and bot.state.get("online"):
                self._online(bot, True, "")
        elif event == "spawned" and bot is not None:
            if isinstance(message.get("position"), list):  # the first state is a period away
                bot.state = {**bot.state, "position": message["position"]}
            self._online(bot, True, "")
            self.hooks.event("spawned", f"{bot.persona} joined the world", {"persona": bot.persona}, False)
        elif event == "disconnected" and bot is not None:
            self._online(bot, False, f"disconnected: {escape_control(str(message.get('reason')))[:200]}")
        elif event == "error":
            text = escape_control(str(message.get("message")))[:300]
            log.warning("minecraft: %s%s", f"{bot.persona}: " if bot else "", text)
            for each in [bot] if bot else self.bots.values():
                each.problem = text
        elif event == "exited":
            for each in self.bots.values():
                self._online(each, False, f"the sidecar exited (code {message.get('code')}); "
                             "restarting", publish=False)
            self.hooks.changed()
        elif event == "chat":
            self._heard_in_game(message)
        elif event == "ready":
            log.info("minecraft sidecar ready (node %s)", escape_control(str(message.get("node")))[:40])
        else:
            log.info("minecraft: an unknown sidecar event %s", escape_control(str(event))[:40])

    def _online(self, bot: Bot, online: bool, problem: str, *, publish: bool = True) -> None:
        changed = bot.online != online
        bot.online, bot.problem = online, problem
        if not online:
            bot.state = {**bot.state, "online": False}
        if changed and publish:
            self.hooks.changed()

    def _heard_in_game(self, message: dict[str, Any]) -> None:
        user, text = message.get("username"), message.get("message")
        if not isinstance(user, str) or not isinstance(text, str) or not user or not text.strip():
            return
        if user.casefold() in {b.username.casefold() for b in self.bots.values()}:
            return  # our own bots' lines
        self.hooks.chat(ChatMessage(platform="minecraft", user=user[:32], user_id=user[:32].casefold(),
                                    text=text[:CHAT_CHARS], id=uuid.uuid4().hex,
                                    sent_ns=time.time_ns()))

    # ------------------------------------------------------------------ HearsChat

    def heard(self, msg: ChatMessage) -> bool:
        if msg.id and msg.id in self.taken_ids:
            return True
        me = msg.user if msg.platform == "minecraft" else (
            self.settings.streamer if msg.platform == "console" or "broadcaster" in msg.roles
            else "")
        ask = parse_ask(msg.text, user=msg.user, platform=msg.platform,
                        cast={b.persona: b.username for b in self.bots.values()}, me=me,
                        chat_id=msg.id)
        if ask is None:
            return False
        if sum(1 for a in self.asks if a.ask.persona == ask.persona) >= self.settings.max_asks:
            log.info("minecraft: %s has %d open asks; not taking another", ask.persona,
                     self.settings.max_asks)
            return False
        self.asks.append(OpenAsk(ask=ask))
        if ask.chat_id:
            self.taken_ids.append(ask.chat_id)
        return True

    def taken(self) -> list[str]:
        return list(self.taken_ids)

    def said(self, persona: str, text: str) -> None:
        bot = self.bots.get(persona)
        if bot is None or not bot.online or not text.strip():
            return
        relay = asyncio.get_running_loop().create_task(self._say(bot, text))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)

    async def _say(self, bot: Bot, text: str) -> None:
        try:
            await self.sidecar.call(bot.persona, "chat", {"text": text[:CHAT_CHARS]}, STATE_CALL_S)
        except SidecarError as exc:
            log.info("minecraft: %s could not say it in game chat: %s", bot.persona, exc.message)

    # ------------------------------------------------------------------ Game protocol

    def players(self) -> dict[str, str]:
        return {persona: persona for persona in self.bots}

    def announce(self) -> str:
        """The start, as a persona says it: a world to play in together, not a match."""
        names = " and ".join(persona.capitalize() for persona in self.bots)
        return (f"{names} join the Minecraft world at {self.settings.host}:"
                f"{self.settings.port}. Chat can ask them for things, like "
                "'Rook, get some dirt' or 'Mika, come to me'.")

    def _current(self) -> OpenAsk | None:
        if self.library is None:
            return None
        return next((a for a in self.asks if self.bots[a.ask.persona].online), None)

    def turn(self) -> str:
        current = self._current()
        return current.ask.persona if current else ""

    def actions(self) -> list[GameAction]:
        current = self._current()
        return ask_actions(current, self._offered(current)) if current else []

    def _offered(self, current: OpenAsk) -> list[Skill]:
        """The library skills offered for a task, closest first (ranked once per ask: an
        embedding costs a few ms)."""
        if self.library is None or current.ask.intent != "task" or current.ask.problem:
            return []
        if current.closest is None:
            current.closest = [skill.name for skill in self.library.closest(
                current.ask.text, self.settings.skills_offered)]
        return [skill for name in current.closest if (skill := self.library.get(name))]

    def _skill(self, name: str) -> Skill | None:
        return self.library.get(name) if self.library else None

    def view(self) -> dict[str, Any]:
        return {
            "bots": {persona: {"username": bot.username, "online": bot.online,
                               "problem": bot.problem, **{
                                   key: bot.state[key] for key in (
                                       "position", "health", "food", "inventory", "held",
                                       "nearby_blocks", "nearby_players", "task")
                                   if key in bot.state}}
                     for persona, bot in self.bots.items()},
            "asks": [{"persona": a.ask.persona, "text": a.ask.text, "asker": a.ask.asker,
                      "platform": a.ask.platform, "intent": a.ask.intent,
                      "failures": a.failures} for a in self.asks],
            "skills": len(self.library.all()) if self.library else 0,
        }

    def describe(self) -> str:
        lines = [state_summary(bot) for bot in self.bots.values()]
        current = self._current()
        if current is None:
            waiting = f" ({len(self.asks)} waiting for a bot to come online)" if self.asks else ""
            return "\n".join([*lines, f"No request to carry out now{waiting}."])
        ask = current.ask
        lines.append(f"{ask.persona}'s request from {escape_control(ask.asker)[:32]}: "
                     f"{escape_control(ask.text)[:200]}")
        if current.failures:
            lines.append(f"(It failed {current.failures} time(s); give_up if it cannot be done.)")
        return "\n".join(lines)

    def history(self) -> list[str]:
        return list(self.moves)

    def outcome(self) -> Outcome | None:
        return None  # the world goes on

    def snapshot(self) -> dict[str, Any]:
        asks = [msgspec.structs.replace(a, closest=None) for a in self.asks]
        return msgspec.to_builtins(_Saved("minecraft", self.players(), asks, list(self.moves)))

    async def apply(self, actor: str, name: str, arguments: dict[str, Any]) -> Result:
        """Run the call, then verify the ask against the bot's fresh state (see the module
        docstring); the sidecar's failures and unmet checks come back refused with the
        reason and the bot's state."""
        current = self._current()
        if current is None or actor != current.ask.persona:
            return Result(False, f"it is {self.turn() or 'nobody'}'s move, not {actor}'s")
        legal = {action.name: action for action in self.actions()}
        action = legal.get(name)
        if action is None:
            return Result(False, f"{show(name)} is not an action now; legal: "
                          f"{word_list(list(legal))}")
        problem = check_call(name, action.schema, arguments, partial(_not_pinned, action))
        if problem is None and name == "write_skill":
            problem = self._skill_name_taken(arguments["name"])
        if problem is not None:
            return self._failed(current, problem)
        if name == "give_up":
            return self._done(current, f"gave up: {arguments['reason']}", "task_failed")
        try:
            if current.check is None:  # pinned at the first try, from a fresh state
                current.goal(await self.sidecar.call(actor, "state", {}, STATE_CALL_S))
            did, check, state = await self._carry_out(current, name, arguments)
        except SidecarError as exc:
            return self._failed(current, f"{name} failed: {exc.message}")
        ok, why = await self._verified(actor, name, check, state)
        if not ok:
            return self._failed(current, f"{did}, but the request is not done: {why}")
        if name == "write_skill":
            did += await self._keep_skill(current, arguments)
        return self._done(current, f"{did} ({why})", "task_done")

    async def _carry_out(self, current: OpenAsk, name: str,
                         arguments: dict[str, Any]) -> tuple[str, Check, dict[str, Any]]:
        """Run one checked call: (what was done, the check to verify, the bot's state after,
        with the block a dig or place left)."""
        assert current.check is not None
        actor, check = current.ask.persona, current.check
        reply: dict[str, Any] = {}
        bot = self.bots[actor]
        op_arguments = dict(arguments)
        if name == "place" and current.ask.intent == "place":
            cell, reply = await self._place_beside(actor, arguments["item"])
            op_arguments.update(zip("xyz", cell, strict=True))
            check = Check(kind="block", position=cell, name=arguments["item"])
            did = f"place {_args(op_arguments)}"
        elif name in ("write_skill", "run_skill"):
            did = await self._run_skill(current, name, arguments)
        else:
            reply = await self.sidecar.call(actor, name, op_arguments,
                                            self.settings.action_timeout_s)
            did = f"{name} {_args(op_arguments)}".strip()
        state = bot.state = await self.sidecar.call(actor, "state", {}, STATE_CALL_S)
        if name in ("dig", "place"):
            block = reply.get("block") or reply.get("after")
            state = {**state, "blocks": [{"position": [op_arguments[axis] for axis in "xyz"],
                                          "name": block if isinstance(block, str) else "?"}]}
        return did, check, state

    async def _place_beside(self, actor: str, item: str) -> tuple[tuple[int, int, int],
                                                                  dict[str, Any]]:
        """Place ``item`` in the first cell beside the bot that takes it (the sidecar refuses
        a taken cell or one with nothing to place against at once): (the cell, the reply)."""
        cells = place_cells(self.bots[actor].state)
        if not cells:
            raise SidecarError("offline", f"{actor}'s position is not known yet")
        deadline = time.monotonic() + self.settings.action_timeout_s
        refusals = []
        for cell in cells:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                arguments = {"item": item, "x": cell[0], "y": cell[1], "z": cell[2]}
                return cell, await self.sidecar.call(actor, "place", arguments, left)
            except SidecarError as exc:
                if exc.code != "failed":
                    raise
                refusals.append(exc.message)
        raise SidecarError("failed", f"no cell beside {actor} takes a block: "
                           f"{'; '.join(refusals[:3])}")

    async def _verified(self, actor: str, name: str, check: Check,
                        state: dict[str, Any]) -> tuple[bool, str]:
        """``check`` against the state after the call; one not met yet is read again for a
        moment (a drop picked up just after a collect returned, a follow just begun)."""
        ok, why = verify(check, state)
        settle = 0.0 if check.kind == "block" else FOLLOW_SETTLE_S if name == "follow" else SETTLE_S
        deadline = time.monotonic() + settle
        while not ok and time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_POLL_S)
            try:
                state = await self.sidecar.call(actor, "state", {}, STATE_CALL_S)
            except SidecarError:
                break
            self.bots[actor].state = state
            ok, why = verify(check, state)
        return ok, why

    def _skill_name_taken(self, name: str) -> str | None:
        skill = self._skill(name)
        if skill is not None and skill.shipped:
            return f"{name} is a shipped skill: call it with run_skill, or name yours otherwise"
        return None

    async def _run_skill(self, current: OpenAsk, name: str, arguments: dict[str, Any]) -> str:
        assert self.library is not None
        if name == "write_skill":
            main, code = arguments["name"], arguments["code"]
        else:
            skill = self._skill(arguments["skill"])
            if skill is None:
                raise SidecarError("not_found", f"no skill called {show(arguments['skill'])}")
            main, code = skill.name, skill.code
        library = [s.code for s in self.library.all() if s.name in (current.closest or [])
                   and s.name != main]
        timeout = self.settings.skill_timeout_s
        result = await self.sidecar.call(current.ask.persona, "run_skill", {
            "code": code, "main": main, "args": list(arguments.get("args", [])),
            "library": library, "timeout_ms": int(timeout * 1000),
            "memory_mb": self.settings.skill_memory_mb}, timeout + SKILL_GRACE_S)
        value = escape_control(str(result.get("value")))[:120]
        return f"ran skill {main} (it returned {value})"

    async def _keep_skill(self, current: OpenAsk, arguments: dict[str, Any]) -> str:
        assert self.library is not None
        try:
            await asyncio.to_thread(self.library.add, arguments["name"], arguments["description"],
                                    arguments["code"], current.ask.text)
        except (SkillRefused, OSError) as exc:
            log.warning("minecraft: a verified skill was not kept: %s", exc)
            return f"; not kept: {exc}"
        self.hooks.event("skill_learned", f"{current.ask.persona} learned a skill: "
                         f"{arguments['name']} ({escape_control(arguments['description'])[:120]})",
                         {"persona": current.ask.persona, "skill": arguments["name"]}, True)
        return f"; kept as skill {arguments['name']}"

    def _failed(self, current: OpenAsk, why: str) -> Result:
        current.failures += 1
        return Result(False, f"{why}. Now: {state_summary(self.bots[current.ask.persona])}")

    def _done(self, current: OpenAsk, did: str, event: str) -> Result:
        ask = current.ask
        self.asks.remove(current)
        asker = escape_control(ask.asker)[:32]
        self.moves.append(f"{ask.persona}: {escape_control(ask.text)[:120]!r} for {asker}: {did}")
        verb = "did" if event == "task_done" else "could not do"
        self.hooks.event(event, f"{ask.persona} {verb} what {escape_control(ask.asker)[:32]} "
                         f"asked ({escape_control(ask.text)[:120]}): {did}",
                         {"persona": ask.persona, "asker": ask.asker, "chat_id": ask.chat_id,
                          "platform": ask.platform}, True)
        return Result(True, did)

    async def aclose(self) -> None:
        self._boot.cancel()
        for relay in list(self._relays):
            relay.cancel()
        await self.sidecar.aclose()


def ask_actions(current: OpenAsk, skills: Sequence[Skill]) -> list[GameAction]:
    """What the mover may do about ``current``: the one pinned action of a parsed intent, or
    for a task ``run_skill`` (``skills``, ranked as given), ``write_skill`` and the
    primitives; ``give_up`` after a failure (ranked last), or alone when the ask has a
    problem (the persona can only say why not)."""
    ask = current.ask
    if ask.problem:
        return [_give_up(ask.problem)]
    if ask.intent == "task":
        actions = _task_actions(skills)
    else:
        op = INTENT_OPS.get(ask.intent, ask.intent)
        actions = [GameAction(
            name=op, description=f"{PRIMITIVES.get(op, (op,))[0]}: what "
            f"{escape_control(ask.asker)[:32]} asked ({escape_control(ask.text)[:120]!r})",
            schema=_pinned(op, ask.arguments),
            options=[ActionOption(arguments=dict(ask.arguments), note="what was asked",
                                  score=1.0)])]
    if current.failures:
        actions.append(_give_up("it cannot be done"))
    return actions


def _task_actions(skills: Sequence[Skill]) -> list[GameAction]:
    actions = []
    if skills:
        names = [skill.name for skill in skills]
        actions.append(GameAction(
            name="run_skill", description="Run a skill from your library (args: its "
            "arguments after bot, as a list)",
            schema=object_schema({"skill": {"type": "string", "enum": names},
                                  "args": {"type": "array", "maxItems": 8}}, ["skill"]),
            options=[ActionOption(arguments={"skill": skill.name, "args": []},
                                  note=escape_control(skill.description)[:120],
                                  score=(len(skills) - rank) / len(skills))
                     for rank, skill in enumerate(skills)]))
    actions.append(GameAction(
        name="write_skill", description="Write a new skill: `async function NAME(bot)` in "
        "plain JavaScript (no require, process or timers) over the bot's async methods "
        "goTo(x, y, z, range?), goToPlayer(name, range?), goToBlock(block, maxDistance?), "
        "follow(name, range?), stop(), collect(block, count), dig(x, y, z), "
        "place(item, x, y, z), equip(item), lookAt(x, y, z) or lookAt(player), chat(text), "
        "wait(ms), state() -> {position, health, inventory, held, nearby_blocks, "
        "nearby_players}, and the library skills; a failed method throws an Error. It runs "
        "now and is kept if the task is then done",
        schema=object_schema({
            "name": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"},
            "description": {"type": "string", "minLength": 1, "maxLength": 300},
            "code": {"type": "string", "minLength": 1, "maxLength": MAX_CODE_BYTES}})))
    actions += [GameAction(name=op, description=description, schema=object_schema(props))
                for op, (description, props) in PRIMITIVES.items()]
    return actions


def _not_pinned(action: GameAction, field: str, value: Any) -> str:
    allowed = action.schema.get("properties", {}).get(field, {}).get("enum", [])
    return f"{field} must be {word_list(allowed)}, not {show(value)}"


def place_cells(state: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """Where an asked-for block may go, in the order tried: the four cells beside the bot's
    feet, then the four above them (a bot in a pit it dug has ground beside its feet)."""
    position = state.get("position")
    if not (isinstance(position, list) and len(position) == 3
            and all(isinstance(c, (int, float)) for c in position)):
        return []
    # feet level rounded, not floored: a bot landing from a step reads y 4.8 over ground at 4
    x, y, z = math.floor(position[0]), math.floor(position[1] + 0.5), math.floor(position[2])
    return [(x + dx, y + up, z + dz) for up in (0, 1) for dx, dz in PLACE_SIDES]


def _give_up(reason: str) -> GameAction:
    """Ending an ask undone; ranked last (the node's auto_move tries the rest first)."""
    return GameAction(
        name="give_up", description="Give up on this request and say why (only when it "
        "cannot be done)", schema=object_schema({"reason": {
            "type": "string", "minLength": 1, "maxLength": 200}}),
        options=[ActionOption(arguments={"reason": reason}, note="only if it cannot be done",
                              score=-1.0)])


def _args(arguments: Mapping[str, Any]) -> str:
    return " ".join(escape_control(str(value))[:40] for value in arguments.values())


def _library(user_dir: Path) -> SkillLibrary:
    """The shipped and learned skills, embedded by the project's MiniLM (loads in ~1 s: in a
    thread, off the game node's loop)."""
    from nodes.memory.embeddings import MiniLmEncoder

    return SkillLibrary(SHIPPED_SKILLS, user_dir, MiniLmEncoder(threads=1))
