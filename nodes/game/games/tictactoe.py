"""Tic-tac-toe: X and O take turns placing on cells 1-9 (row by row, 1 top left); three in a
row wins, a full board is a draw.

The one action is ``place`` with ``cell`` (an ``enum`` of the free cells, best first). The
ranking is perfect play: a minimax over every position (at most 5,478, each solved once and
cached), so the top option never throws away a win or a draw, and each option says why
("wins now", "blocks rook's line 3-5-7", "makes a fork", "centre", "loses: ...").
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from nodes.game.games.grid import EMPTY, FirstSettings, GridGame, Line, SavedMoves, grid, put
from nodes.game.games.rules import show, word_list

__all__ = ["TicTacToe", "TicTacToeSettings", "rank"]

GRID = grid(3, 3, 3)
CENTRE, CORNERS = 4, (0, 2, 6, 8)
Mark = Literal["X", "O"]


class TicTacToeSettings(FirstSettings, frozen=True):
    first: Mark = "X"
    """Which side moves first (the node may alternate it between games)."""


class _Saved(SavedMoves):
    kind: Literal["tictactoe"]
    first: Mark


def _other(mark: str) -> str:
    return "O" if mark == "X" else "X"


def _free(board: str) -> list[int]:
    return [cell for cell, mark in enumerate(board) if mark == EMPTY]


@cache
def _value(board: str, mark: str) -> int:
    """The position for ``mark`` to move with perfect play on both sides: 0 a draw,
    positive a win (the sooner, the larger), negative a loss (the later, the smaller)."""
    return max(_move_value(board, cell, mark) for cell in _free(board))


def _move_value(board: str, cell: int, mark: str) -> int:
    free = board.count(EMPTY)
    if GRID.completes(board, cell, mark):
        return free  # at least 1; a win with more cells left is sooner
    if free == 1:
        return 0
    return -_value(put(board, cell, mark), _other(mark))


def _threats(board: str, mark: str) -> list[int]:
    """The free cells where ``mark`` would complete a line next."""
    return [cell for cell in _free(board) if GRID.completes(board, cell, mark)]


def _cells(line: Line) -> str:
    return "-".join(str(cell + 1) for cell in line)


def rank(board: str, mark: str, opponent: str = "") -> list[tuple[int, float, str]]:
    """Every free cell (0-8) of ``board`` (9 characters, ``.`` free) for ``mark`` to move, as
    (cell, score, note), best first; ``opponent`` names the other side in the notes."""
    other = _other(mark)
    them = opponent or other
    ranked = []
    for cell in _free(board):
        value = _move_value(board, cell, mark)
        after = put(board, cell, mark)
        place = "centre" if cell == CENTRE else "corner" if cell in CORNERS else "edge"
        bonus = {"centre": 3, "corner": 2, "edge": 1}[place]
        if line := GRID.completes(board, cell, mark):
            note, bonus = f"wins now (line {_cells(line)})", 9
        elif line := GRID.completes(board, cell, other):
            note, bonus = f"blocks {them}'s line {_cells(line)}", 8
        elif len(_threats(after, mark)) >= 2:
            note, bonus = "makes a fork: two ways to win next", 7
        elif value > 0:
            note = f"{place}; forces a win"
        else:
            note = place
        if value < 0:
            note += f"; loses: {them} can then force a win"
        # the minimax value decides (values differ by whole units); the bonus orders equals
        ranked.append((cell, value * 10.0 + bonus, note))
    ranked.sort(key=lambda option: (-option[1], option[0]))
    return ranked


class TicTacToe(GridGame[TicTacToeSettings]):
    kind = "tictactoe"
    title = "tic-tac-toe"
    sides = ("X", "O")
    Settings = TicTacToeSettings
    grid = GRID
    marks = {"X": "X", "O": "O"}
    action, field = "place", "cell"
    Saved = _Saved

    # --- rules -----------------------------------------------------------------------------

    def _legal(self) -> list[int]:
        return [cell + 1 for cell in _free(self._board)]

    def _rank(self, mark: str, opponent: str) -> list[tuple[int, float, str]]:
        return rank(self._board, mark, opponent)

    def _action_description(self, side: str) -> str:
        return f"Put your {side} on a free cell (1-9, row by row from the top left); three in a row wins."

    def _how(self, line: Line) -> str:
        return f"(line {_cells(line)})"

    def _not_legal(self, name: str, field: str, value: Any) -> str:
        free = word_list(self._legal())
        if isinstance(value, int) and 1 <= value <= 9:
            return f"cell {value} is taken ({self._board[value - 1]}); free: {free}"
        return f"cell {show(value)} is not on the board (1-9, row by row from top left); free: {free}"

    def _play(self, name: str, arguments: dict[str, Any]) -> str:
        cell = int(arguments["cell"])  # the schema allows 5.0 as a whole number
        mark = self._mover()
        self._board = put(self._board, cell - 1, mark)
        self._moves.append(cell)
        return f"{mark} at {cell}"

    # --- what the players see -------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        ended = self._winner()
        winner, line = "", []
        if ended is not None and ended[0] is not None:
            won = GRID.winner(self._board, EMPTY)
            winner, line = ended[0], [cell + 1 for cell in won[1]] if won else []
        return {"board": [mark if mark != EMPTY else "" for mark in self._board],
                "to_move": "" if ended else self._mover(), "free": self._legal(),
                "winner": winner, "line": line, "moves": list(self._moves)}

    def describe(self) -> str:
        rows = [" " + " | ".join(mark if mark != EMPTY else str(row * 3 + col + 1)
                                 for col, mark in enumerate(self._board[row * 3:row * 3 + 3]))
                for row in range(3)]
        players = ", ".join(f"{side} is {who}" for side, who in self._players.items())
        if (outcome := self.outcome()) is not None:
            status = f"Over: {outcome.text}."
        else:
            mark = self._mover()
            status = f"{mark} ({self._players[mark]}) to move. Free cells: {word_list(self._legal())}."
        return "\n".join([f"Tic-tac-toe: {players}.", *"\n---+---+---\n".join(rows).split("\n"), status])
