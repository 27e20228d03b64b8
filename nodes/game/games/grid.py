"""Lines on a grid of cells, for the games won by a row of marks (tic-tac-toe: 3 in a row
on 3x3; connect four: 4 in a row on 7x6).

Cells are numbered row by row from 0 (``row * width + column``). Each cell knows the lines
through it, so "does this mark here complete a line" looks at those few lines only (at most
4 in tic-tac-toe, 13 in connect four) instead of every line on the board.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

__all__ = ["Grid", "grid"]

Line = tuple[int, ...]

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
