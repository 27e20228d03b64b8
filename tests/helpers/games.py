"""A tiny game for the game node's tests, added to `GAMES` by one registry line: a race to
``target`` where each side in turn adds 1 or 2, and whoever reaches it wins.

(Reconstructed by the games helper from its uses in tests/unit/test_game_node.py after the
original, not yet committed, was overwritten by mistake; see that helper's report.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from messages.game import ActionOption, GameAction
from nodes.game.games import GAMES, GameError, GameHooks, Outcome, Result

__all__ = ["KIND", "Race", "RaceSettings", "register"]

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
