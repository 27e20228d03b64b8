"""Lines on a grid of cells, for the games won by a row of marks (tic-tac-toe: 3 in a row
on 3x3; connect four: 4 in a row on 7x6), and `GridGame`, what those games share.

Cells are numbered row by row from 0 (``row * width + column``). Each cell knows the lines
through it, so "does this mark here complete a line" looks at those few lines only (at most
4 in tic-tac-toe, 13 in connect four) instead of every line on the board.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Generic, Self, TypeVar

import msgspec

from messages.game import ActionOption, GameAction
from nodes.game.games import GameHooks
from nodes.game.games.rules import TurnGame, load_snapshot, object_schema

__all__ = ["EMPTY", "FirstSettings", "Grid", "GridGame", "SavedMoves", "grid", "put"]

Line = tuple[int, ...]

EMPTY = "."
"""What a free cell of a board holds (a board is a string, one character a cell)."""

_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))
"""(row step, column step): along a row, down a column, and the two diagonals."""


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    length: int
    """How many marks in a row win."""
    lines: tuple[Line, ...]
    through: tuple[tuple[Line, ...], ...]
    """cell -> the lines that pass through it."""

    def completes(self, board: Sequence[str], cell: int, mark: str) -> Line | None:
        """The line that ``mark`` placed on ``cell`` would complete (``board[cell]`` itself
        is not looked at), or None."""
        for line in self.through[cell]:
            if all(other == cell or board[other] == mark for other in line):
                return line
        return None

    def winner(self, board: Sequence[str], empty: str = "") -> tuple[str, Line] | None:
        """The mark that has a full line, and the line; None when nobody has one. ``empty``
        is what a free cell holds."""
        for line in self.lines:
            mark = board[line[0]]
            if mark != empty and all(board[cell] == mark for cell in line):
                return mark, line
        return None


@cache
def grid(width: int, height: int, length: int) -> Grid:
    """The grid of that size, its lines computed once."""
    lines: list[Line] = []
    for row in range(height):
        for column in range(width):
            for row_step, column_step in _DIRECTIONS:
                end_row = row + row_step * (length - 1)
                end_column = column + column_step * (length - 1)
                if 0 <= end_row < height and 0 <= end_column < width:
                    lines.append(tuple((row + row_step * i) * width + column + column_step * i
                                       for i in range(length)))
    through = tuple(tuple(line for line in lines if cell in line) for cell in range(width * height))
    return Grid(width, height, length, tuple(lines), through)


def put(board: str, cell: int, mark: str) -> str:
    """``board`` with ``mark`` on ``cell``."""
    return board[:cell] + mark + board[cell + 1:]


class FirstSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A grid game's settings: a game narrows `first` to its sides and may add more."""

    first: str
    """Which side moves first (the node may alternate it between games)."""


class SavedMoves(msgspec.Struct, forbid_unknown_fields=True):
    """A saved grid game; a game narrows `kind` and `first` so a wrong one does not restore."""

    kind: str
    players: dict[str, str]
    first: str
    moves: list[int]
    """The action's argument (a cell, a column: from 1) of each move, in the order played."""


SettingsT = TypeVar("SettingsT", bound=FirstSettings)


class GridGame(TurnGame, Generic[SettingsT]):
    """Two sides taking turns to put their marks on a `Grid` (tic-tac-toe, connect four).

    One action (`action`) with one whole-number argument (`field`, counted from 1: a cell, a
    column); the game is saved as who moved first and those numbers in order, and restored by
    playing them again. A subclass gives `grid`, `marks`, `action`, `field`, `Saved` and
    implements `_legal`, `_rank`, `_action_description`, and `TurnGame`'s `_not_legal` and
    `_play` (which puts the mark on ``self._board`` and appends to ``self._moves``).
    """

    grid: ClassVar[Grid]
    marks: ClassVar[dict[str, str]]
    """side -> the character it puts on the board."""
    action: ClassVar[str]
    field: ClassVar[str]
    Saved: ClassVar[type[SavedMoves]]

    def __init__(self, settings: SettingsT, players: Mapping[str, str],
                 hooks: GameHooks | None = None):
        super().__init__(players, hooks)
        self.settings = settings
        self._board = EMPTY * (self.grid.width * self.grid.height)
        self._moves: list[int] = []

    @classmethod
    def restore(cls, settings: SettingsT, snapshot: Mapping[str, Any],
                hooks: GameHooks | None = None) -> Self:
        saved = load_snapshot(cls.Saved, snapshot, cls.kind)
        game = cls(msgspec.structs.replace(settings, first=saved.first), saved.players, hooks)
        game._replay((cls.action, {cls.field: move}) for move in saved.moves)
        return game

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "players": self.players(), "first": self.settings.first,
                "moves": list(self._moves)}

    # --- what a subclass implements -------------------------------------------------------

    def _legal(self) -> list[int]:
        """The legal arguments now (from 1), in board order."""
        raise NotImplementedError

    def _rank(self, mark: str, opponent: str) -> list[tuple[int, float, str]]:
        """Every legal move for ``mark`` as (argument from 0, score, note), best first;
        ``opponent`` names the other player in the notes."""
        raise NotImplementedError

    def _action_description(self, side: str) -> str:
        """The action's description for ``side`` to move."""
        raise NotImplementedError

    def _how(self, line: Line) -> str:
        """How ``line`` won, for the outcome ("(line 1-5-9)"); nothing by default."""
        return ""

    # --- TurnGame's rules -----------------------------------------------------------------

    def _mover(self) -> str:
        first = self.settings.first
        return first if len(self._moves) % 2 == 0 else self._other_side(first)

    def _schemas(self) -> dict[str, dict[str, Any]]:
        return {self.action: self._schema(self._legal())}

    def _schema(self, values: list[int]) -> dict[str, Any]:
        return object_schema({self.field: {"type": "integer", "enum": values}})

    def _winner(self) -> tuple[str | None, str] | None:
        won = self.grid.winner(self._board, EMPTY)
        if won is not None:
            return next(side for side, mark in self.marks.items() if mark == won[0]), self._how(won[1])
        return (None, "") if EMPTY not in self._board else None

    def actions(self) -> list[GameAction]:
        if self.outcome() is not None:
            return []
        side = self._mover()
        ranked = self._rank(self.marks[side], self._players[self._other_side(side)])
        options = [ActionOption(arguments={self.field: value + 1}, note=note, score=score)
                   for value, score, note in ranked]
        return [GameAction(name=self.action, description=self._action_description(side),
                           schema=self._schema([value + 1 for value, _, _ in ranked]), options=options)]
