"""A tiny game for the game node's tests, added to `GAMES` by one registry line: a race to
``target`` where each side in turn adds 1 or 2, and whoever reaches it wins.

(Reconstructed by the games helper from its uses in tests/unit/test_game_node.py after the
original, not yet committed, was overwritten by mistake; see that helper's report.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from messages.chat import ChatMessage
from messages.game import ActionOption, GameAction
from nodes.game.games import GAMES, GameError, GameHooks, Outcome, Result

__all__ = ["ERRANDS", "KIND", "Errands", "Race", "RaceSettings", "register", "register_errands"]

KIND = "race"
SIDES = ("a", "b")
VIEWER = "twitch:u1"
"""A viewer the outcome scores (the total), so memory's viewer turns are tested too."""


class RaceSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    target: int = 5


class _Saved(msgspec.Struct, forbid_unknown_fields=True):
    players: dict[str, str]
    total: int
    moves: list[str]
    mover: int


class Race:
    Settings = RaceSettings
    kind = KIND
    closed: ClassVar[int] = 0
    """How many races were closed (the node closes a stopped game)."""

    def __init__(self, settings: RaceSettings, players: Mapping[str, str],
                 hooks: GameHooks | None = None):
        if set(players) != set(SIDES):
            raise GameError(f"race players: need a and b, got {dict(players)}")
        self.settings = settings
        self._players = {side: players[side] for side in SIDES}
        self.hooks = hooks or GameHooks()
        self.total = 0
        self.moves: list[str] = []
        self.mover = 0
        self.winner = ""
        self.ballots_seen: list[dict[str, tuple[str, dict[str, Any]]]] = []

    @classmethod
    def restore(cls, settings: RaceSettings, snapshot: Mapping[str, Any],
                hooks: GameHooks | None = None) -> Race:
        try:
            saved = msgspec.convert(dict(snapshot), _Saved)
        except msgspec.ValidationError as exc:
            raise GameError(f"race: {exc}") from None
        race = cls(settings, saved.players, hooks)
        race.total, race.moves, race.mover = saved.total, list(saved.moves), saved.mover
        return race

    def players(self) -> dict[str, str]:
        return dict(self._players)

    def turn(self) -> str:
        return "" if self.total >= self.settings.target else self._players[SIDES[self.mover]]

    def actions(self) -> list[GameAction]:
        if not self.turn():
            return []
        schema = {"type": "object", "properties": {"n": {"type": "integer", "enum": [2, 1]}},
                  "required": ["n"], "additionalProperties": False}
        return [GameAction(name="add", description="add 1 or 2 to the total", schema=schema,
                           options=[ActionOption(arguments={"n": 2}, note="faster", score=2.0),
                                    ActionOption(arguments={"n": 1}, score=1.0)])]

    def view(self) -> dict[str, Any]:
        return {"total": self.total, "target": self.settings.target}

    def describe(self) -> str:
        return f"total {self.total} of {self.settings.target}"

    def history(self) -> list[str]:
        return list(self.moves)

    def ballots(self, votes: Mapping[str, tuple[str, dict[str, Any]]]) -> None:
        self.ballots_seen.append(dict(votes))

    async def apply(self, actor: str, name: str, arguments: dict[str, Any]) -> Result:
        if actor != self.turn():
            return Result(False, f"it is {self.turn() or 'nobody'}'s move")
        n = arguments.get("n")
        if name != "add" or n not in (1, 2) or isinstance(n, bool):
            return Result(False, "add takes n = 1 or 2")
        self.total += int(n)
        self.moves.append(f"{actor}: +{n}")
        self.mover = 1 - self.mover
        return Result(True, f"{actor} adds {n}", events=[("total", f"now {self.total}", {})])

    def outcome(self) -> Outcome | None:
        if self.total < self.settings.target:
            return None
        winner = self._players[SIDES[1 - self.mover]]  # who moved last
        loser = self._players[SIDES[self.mover]]
        return Outcome(f"{winner} won the race against {loser}", winners=[winner], losers=[loser],
                       scores={VIEWER: self.total})

    def snapshot(self) -> dict[str, Any]:
        return {"players": self.players(), "total": self.total, "moves": list(self.moves),
                "mover": self.mover}

    async def aclose(self) -> None:
        Race.closed += 1


def register() -> None:
    """The race's one registry line."""
    GAMES.entries[KIND] = f"{__name__}:Race"


ERRANDS = "errands"


class Errands:
    """A game that takes requests from chat (like Minecraft, without a world): "mika, fetch
    apples" gives mika a move (``do`` the errand); a line in the game's own chat comes in
    through ``hooks.chat``; what a persona says about it is kept in ``said_lines``."""

    Settings = RaceSettings
    kind = ERRANDS

    def __init__(self, settings: RaceSettings, players: Mapping[str, str],
                 hooks: GameHooks | None = None):
        self._players = dict(players)
        self.hooks = hooks or GameHooks()
        self.open: list[tuple[str, str, str]] = []
        """(persona, errand, chat id), oldest first."""
        self.done: list[str] = []
        self.taken_ids: list[str] = []
        self.said_lines: list[tuple[str, str]] = []

    def heard(self, msg: ChatMessage) -> bool:
        who, _, errand = msg.text.partition(", ")
        if who.casefold() not in self._players.values() or not errand:
            return False
        self.open.append((who.casefold(), errand, msg.id))
        self.taken_ids.append(msg.id)
        return True

    def taken(self) -> list[str]:
        return self.taken_ids[-20:]

    def announce(self) -> str:
        return "mika and rook run errands for chat"

    def said(self, persona: str, text: str) -> None:
        self.said_lines.append((persona, text))

    def players(self) -> dict[str, str]:
        return dict(self._players)

    def turn(self) -> str:
        return self.open[0][0] if self.open else ""

    def actions(self) -> list[GameAction]:
        if not self.open:
            return []
        errand = self.open[0][1]
        schema = {"type": "object", "properties": {"errand": {"type": "string",
                                                              "enum": [errand]}},
                  "required": ["errand"], "additionalProperties": False}
        return [GameAction(name="do", schema=schema,
                           options=[ActionOption(arguments={"errand": errand})])]

    def view(self) -> dict[str, Any]:
        return {"open": [errand for _, errand, _ in self.open]}

    def describe(self) -> str:
        return f"asked: {self.open[0][1]}" if self.open else "nothing asked"

    def history(self) -> list[str]:
        return list(self.done)

    async def apply(self, actor: str, name: str, arguments: dict[str, Any]) -> Result:
        if not self.open or actor != self.turn() or arguments.get("errand") != self.open[0][1]:
            return Result(False, "not this errand")
        self.done.append(f"{actor}: {self.open.pop(0)[1]}")
        return Result(True, f"{actor} did it")

    def outcome(self) -> Outcome | None:
        return None

    def snapshot(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        """Nothing held."""


def register_errands() -> None:
    GAMES.entries[ERRANDS] = f"{__name__}:Errands"
