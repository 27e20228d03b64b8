"""nodes.game.games.connect4: drops, fours in every direction, the two-ply ranking,
refusals that change nothing, snapshots that restore the same game."""

from __future__ import annotations

import pytest
from helpers.game_checks import (
    apply_now,
    assert_options_fit,
    assert_refused,
    assert_restores,
    play_picks,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.game.games import GameError
from nodes.game.games.connect4 import ConnectFour, ConnectFourSettings

FUZZ = settings(max_examples=200, derandomize=True, print_blob=True, deadline=None)
PLAYERS = {"red": "mika", "yellow": "rook"}
DRAW = [4, 7, 2, 4, 2, 4, 7, 5, 6, 6, 4, 5, 4, 2, 2, 1, 5, 4, 1, 5, 7, 7, 3, 7, 2, 1, 6, 6, 3, 5,
        6, 2, 6, 7, 1, 1, 3, 3, 5, 3, 3, 1]
"""42 drops that fill the board with no four (found once by a seeded random search)."""


def game_after(*columns: int) -> ConnectFour:
    game = ConnectFour(ConnectFourSettings(), PLAYERS)
    for column in columns:
        result = apply_now(game, game.turn(), "drop", {"column": column})
        assert result.ok, result.message
    return game


def top(game: ConnectFour) -> tuple[int, str]:
    option = game.actions()[0].options[0]
    return option.arguments["column"], option.note


class TestRules:
    @pytest.mark.parametrize(
        ("columns", "winner", "line"),
        [
            ((1, 1, 2, 2, 3, 3, 4), "red", [(1, 1), (2, 1), (3, 1), (4, 1)]),            # across
            ((1, 2, 1, 2, 1, 2, 1), "red", [(1, 1), (1, 2), (1, 3), (1, 4)]),            # up
            ((1, 2, 2, 3, 3, 4, 3, 4, 4, 7, 4), "red", [(1, 1), (2, 2), (3, 3), (4, 4)]),  # diagonal /
            ((7, 6, 6, 5, 5, 4, 5, 4, 4, 1, 4), "red", [(4, 4), (5, 3), (6, 2), (7, 1)]),  # diagonal \
            ((7, 1, 1, 2, 2, 3, 6, 4), "yellow", [(1, 1), (2, 1), (3, 1), (4, 1)]),
        ],
    )
    def test_a_four_wins(self, columns: tuple[int, ...], winner: str,
                         line: list[tuple[int, int]]) -> None:
        game = game_after(*columns)
        view = game.view()
        assert view["winner"] == winner and game.turn() == "" and game.actions() == []
        assert sorted((c["column"], c["row"]) for c in view["line"]) == line
        outcome = game.outcome()
        assert outcome is not None and outcome.winners == [PLAYERS[winner]]

    def test_a_full_board_without_a_four_is_a_draw(self) -> None:
        game = game_after(*DRAW)
        outcome = game.outcome()
        assert outcome is not None and outcome.text == (
            "connect four between mika (red) and rook (yellow) was a draw")

    def test_discs_stack_from_the_bottom(self) -> None:
        game = game_after(4, 4, 3)
        board = game.view()["board"]
        assert board[-1] == ["", "", "R", "R", "", "", ""] and board[-2][3] == "Y"
        assert game.history() == ["mika: red in column 4", "rook: yellow in column 4",
                                  "mika: red in column 3"]

    def test_describe_shows_columns_and_open_ones(self) -> None:
        text = game_after(4, 4).describe()
        assert " 1 2 3 4 5 6 7" in text and " . . . Y . . ." in text and " . . . R . . ." in text
        assert text.endswith("red (mika, R) to move. Open columns: 1, 2, 3, 4, 5, 6, 7.")


class TestRanking:
    @pytest.mark.parametrize(
        ("columns", "column", "note"),
        [
            ((1, 5, 2, 5, 3, 6), 4, "wins now"),
            ((1, 1, 2, 2, 3), 4, "blocks mika's four"),
            ((), 4, "centre"),
            # red can make 3 across with both ends open: two threats at once
            ((3, 1, 4, 1), 5, "two threats at once"),
        ],
    )
    def test_top_option(self, columns: tuple[int, ...], column: int, note: str) -> None:
        best, why = top(game_after(*columns))
        assert best == column and note in why

    def test_never_drops_under_the_other_sides_win(self) -> None:
        # yellow has columns 2, 3 and 5 of row 2; its fourth cell is column 4's second: a red
        # disc in the empty column 4 would let yellow win on top of it
        game = game_after(2, 2, 2, 3, 1, 3, 5, 5)
        options = {o.arguments["column"]: o for o in game.actions()[0].options}
        assert "lets rook win in column 4" in options[4].note and options[4].score < 0
        assert top(game)[0] != 4

    def test_not_blocking_a_win_says_so(self) -> None:
        options = game_after(1, 1, 2, 2, 3).actions()[0].options
        assert all("does not stop mika winning in column 4" in o.note
                   for o in options if o.arguments["column"] != 4)

    @settings(max_examples=100, derandomize=True, print_blob=True, deadline=None)
    @given(st.lists(st.integers(0, 6), max_size=30))
    def test_the_top_option_takes_a_win_blocks_one_and_gives_none_away(self, picks: list[int]) -> None:
        """Checked on the shown board by the test's own four-finder (not the ranking's code):
        the top option wins when a drop wins; else blocks when the other side has one win;
        else never lets the other side win next when some drop does not."""
        game = game_after()
        play_picks(game, picks)
        if game.outcome() is not None:
            return
        board = [row[:] for row in reversed(game.view()["board"])]  # board[row][column], row 0 bottom
        me = "R" if game.view()["to_move"] == "red" else "Y"
        them = "Y" if me == "R" else "R"
        best = game.actions()[0].options[0].arguments["column"] - 1
        mine, theirs = wins(board, me), wins(board, them)
        if mine:
            assert best in mine
        elif len(theirs) == 1:
            assert best in theirs
        elif not theirs:
            safe = {c for c in range(7) if board[5][c] == "" and not wins(drop(board, c, me), them)}
            assert not safe or best in safe


def drop(board: list[list[str]], column: int, mark: str) -> list[list[str]]:
    rows = [row[:] for row in board]
    row = next(r for r in range(6) if rows[r][column] == "")
    rows[row][column] = mark
    return rows


def wins(board: list[list[str]], mark: str) -> set[int]:
    """The columns where ``mark`` completes four with one drop."""
    def four(rows: list[list[str]]) -> bool:
        return any(all(0 <= r + i * dr < 6 and 0 <= c + i * dc < 7 and rows[r + i * dr][c + i * dc] == mark
                       for i in range(4))
                   for r in range(6) for c in range(7) for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)))
    return {c for c in range(7) if board[5][c] == "" and four(drop(board, c, mark))}


class TestRefusals:
    @pytest.mark.parametrize(
        ("actor", "name", "arguments", "match"),
        [
            ("mika", "drop", {"column": 1}, r"^column 1 is full; open: 2, 3, 4, 5, 6, 7$"),
            ("mika", "drop", {"column": 8}, r"column 8 is not on the board \(1-7"),
            ("mika", "drop", {"column": "4"}, r"column must be a whole number, got '4'"),
            ("mika", "drop", {"col": 4}, r"drop needs column"),
            ("mika", "place", {"column": 4}, r"there is no action 'place'; legal now: drop"),
            ("rook", "drop", {"column": 4}, r"it is mika's turn \(red\), not rook's"),
            ("mika", "drop", None, r"drop takes its arguments as an object"),
        ],
    )
    def test_refused_and_unchanged(self, actor: str, name: str, arguments: object, match: str) -> None:
        assert_refused(game_after(1, 1, 1, 1, 1, 1), actor, name, arguments, match)

    def test_no_move_after_the_end(self) -> None:
        assert_refused(game_after(1, 1, 2, 2, 3, 3, 4), "rook", "drop", {"column": 5},
                       r"the game is over \(mika \(red\) won connect four")


class TestSnapshots:
    @FUZZ
    @given(st.lists(st.integers(0, 6), max_size=42), st.sampled_from(["red", "yellow"]))
    def test_any_game_restores_the_same_and_its_options_fit(self, picks: list[int], first: str) -> None:
        game = ConnectFour(ConnectFourSettings(first=first), PLAYERS)  # type: ignore[arg-type]
        for _ in play_picks(game, picks):
            assert_options_fit(game)
        assert_restores(game, ConnectFourSettings())

    @pytest.mark.parametrize(
        ("moves", "match"),
        [
            ([1] * 7, r"saved move 7 \(drop \{'column': 1\}\) does not replay: column 1 is full"),
            ([0], r"column 0 is not on the board"),
            (["4"], r"does not restore: Expected `int`"),
        ],
    )
    def test_a_bad_snapshot_is_a_game_error(self, moves: list[object], match: str) -> None:
        snapshot = {"kind": "connect4", "players": PLAYERS, "first": "red", "moves": moves}
        with pytest.raises(GameError, match=match):
            ConnectFour.restore(ConnectFourSettings(), snapshot)
