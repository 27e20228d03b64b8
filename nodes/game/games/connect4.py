"""Connect four: red and yellow drop discs into 7 columns of 6 rows; four in a row (across,
up, or diagonal) wins, a full board is a draw.

The one action is ``drop`` with ``column`` (1-7, an ``enum`` of the columns not full, best
first). The ranking looks two plies ahead, which is what a small model needs to not lose
at once: win now, block the other side's four, never drop where the other side then wins
(the cell on top included), make two threats at once, otherwise prefer the centre. About
50 line checks a call, well under a millisecond here.
"""

from __future__ import annotations

from typing import Any, Literal

from nodes.game.games.grid import EMPTY, FirstSettings, GridGame, SavedMoves, grid, put
from nodes.game.games.rules import show, word_list

__all__ = ["ConnectFour", "ConnectFourSettings", "rank"]

COLUMNS, ROWS = 7, 6
GRID = grid(COLUMNS, ROWS, 4)
MARKS = {"red": "R", "yellow": "Y"}
Side = Literal["red", "yellow"]


class ConnectFourSettings(FirstSettings, frozen=True):
    first: Side = "red"
    """Which side drops first."""


class _Saved(SavedMoves):
    kind: Literal["connect4"]
    first: Side


def _other(mark: str) -> str:
    return "Y" if mark == "R" else "R"


def _landing(board: str, column: int) -> int | None:
    """The cell a disc dropped in ``column`` (0-6) lands on (row 0 is the bottom); None when full."""
    for row in range(ROWS):
        cell = row * COLUMNS + column
        if board[cell] == EMPTY:
            return cell
    return None


def _open(board: str) -> list[int]:
    return [column for column in range(COLUMNS) if board[(ROWS - 1) * COLUMNS + column] == EMPTY]


def _wins(board: str, mark: str) -> list[int]:
    """The columns where ``mark`` would complete four with its next disc."""
    wins = []
    for column in _open(board):
        cell = _landing(board, column)
        if cell is not None and GRID.completes(board, cell, mark):
            wins.append(column)
    return wins


def _columns(columns: list[int]) -> str:
    return word_list([column + 1 for column in columns])


def rank(board: str, mark: str, opponent: str = "") -> list[tuple[int, float, str]]:
    """Every open column (0-6) of ``board`` (42 characters, bottom row first, ``.`` empty)
    for ``mark`` to move, as (column, score, note), best first."""
    them = opponent or _other(mark)
    their_wins = _wins(board, _other(mark))
    ranked = []
    for column in _open(board):
        cell = _landing(board, column)
        assert cell is not None  # an open column has a free cell
        centre = 3 - abs(column - 3)
        if GRID.completes(board, cell, mark):
            ranked.append((column, 1000.0, "wins now"))
            continue
        after = put(board, cell, mark)
        if their_wins and column not in their_wins:
            ranked.append((column, -900.0 + centre, f"does not stop {them} winning in column "
                                                    f"{_columns(their_wins)}"))
            continue
        if answers := _wins(after, _other(mark)):
            blocked = f"blocks {them}'s four but " if their_wins else ""
            ranked.append((column, -900.0 + centre,
                           f"{blocked}lets {them} win in column {_columns(answers)}"))
            continue
        threats = _wins(after, mark)
        if column in their_wins:
            score, note = 500.0, f"blocks {them}'s four"
        elif len(threats) >= 2:
            score = 300.0
            note = f"two threats at once (columns {_columns(threats)}): {them} cannot block both"
        elif threats:
            score, note = 60.0, f"threatens to win in column {_columns(threats)}"
        else:
            score, note = 0.0, "centre" if centre == 3 else ""
        ranked.append((column, score + 4 * centre, note))
    ranked.sort(key=lambda option: (-option[1], abs(option[0] - 3), option[0]))
    return ranked


class ConnectFour(GridGame[ConnectFourSettings]):
    kind = "connect4"
    title = "connect four"
    sides = ("red", "yellow")
    Settings = ConnectFourSettings
    grid = GRID
    marks = MARKS
    action, field = "drop", "column"
    Saved = _Saved

    # --- rules -----------------------------------------------------------------------------

    def _legal(self) -> list[int]:
        return [column + 1 for column in _open(self._board)]

    def _rank(self, mark: str, opponent: str) -> list[tuple[int, float, str]]:
        return rank(self._board, mark, opponent)

    def _action_description(self, side: str) -> str:
        return f"Drop a {side} disc into a column (1-{COLUMNS}, left to right); four in a row wins."

    def _not_legal(self, name: str, field: str, value: Any) -> str:
        open_columns = _columns(_open(self._board))
        if isinstance(value, int) and 1 <= value <= COLUMNS:
            return f"column {value} is full; open: {open_columns}"
        return f"column {show(value)} is not on the board (1-{COLUMNS}, left to right); open: {open_columns}"

    def _play(self, name: str, arguments: dict[str, Any]) -> str:
        column = int(arguments["column"])  # the schema allows 4.0 as a whole number
        side = self._mover()
        cell = _landing(self._board, column - 1)
        assert cell is not None  # the schema lists open columns only
        self._board = put(self._board, cell, MARKS[side])
        self._moves.append(column)
        return f"{side} in column {column}"

    # --- what the players see -------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        won = GRID.winner(self._board, EMPTY)
        ended = self._winner()
        rows = [[mark if mark != EMPTY else "" for mark in self._board[row * COLUMNS:(row + 1) * COLUMNS]]
                for row in reversed(range(ROWS))]
        return {"board": rows, "to_move": "" if ended else self._mover(),
                "open": self._legal(),
                "winner": ended[0] or "" if ended else "",
                "line": [{"column": cell % COLUMNS + 1, "row": cell // COLUMNS + 1}
                         for cell in (won[1] if won else ())],
                "moves": list(self._moves)}

    def describe(self) -> str:
        players = ", ".join(f"{side} ({MARKS[side]}) is {who}" for side, who in self._players.items())
        rows = [" " + " ".join(self._board[row * COLUMNS:(row + 1) * COLUMNS])
                for row in reversed(range(ROWS))]
        if (outcome := self.outcome()) is not None:
            status = f"Over: {outcome.text}."
        else:
            side = self._mover()
            status = (f"{side} ({self._players[side]}, {MARKS[side]}) to move. "
                      f"Open columns: {_columns(_open(self._board))}.")
        return "\n".join([f"Connect four: {players}. Bottom row last.",
                          " " + " ".join(str(column + 1) for column in range(COLUMNS)), *rows, status])
