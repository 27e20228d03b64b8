"""nodes.game.games.tictactoe: the rules, perfect-play ranking, refusals that change nothing,
and snapshots that restore the same game."""

from __future__ import annotations

from functools import cache

import msgspec
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

from bus.errors import PluginError
from nodes.game.games import GAMES, GameError
from nodes.game.games.tictactoe import TicTacToe, TicTacToeSettings

FUZZ = settings(max_examples=300, derandomize=True, print_blob=True, deadline=None)
PLAYERS = {"X": "mika", "O": "rook"}
LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def game_after(*cells: int, first: str = "X") -> TicTacToe:
    game = TicTacToe(TicTacToeSettings(first=first), PLAYERS)  # type: ignore[arg-type]
    for cell in cells:
        result = apply_now(game, game.turn(), "place", {"cell": cell})
        assert result.ok, result.message
    return game


@cache
def oracle(board: str, mark: str) -> int:
    """The test's own solver: +1 the mover wins, 0 draw, -1 the mover loses (perfect play)."""
    other = "O" if mark == "X" else "X"
    best = -1
    for cell in (i for i, c in enumerate(board) if c == "."):
        after = board[:cell] + mark + board[cell + 1:]
        if any(all(after[i] == mark for i in line) for line in LINES):
            return 1
        value = 0 if "." not in after else -oracle(after, other)
        best = max(best, value)
    return best


def board_of(game: TicTacToe) -> str:
    return "".join(mark or "." for mark in game.view()["board"])


class TestRules:
    @pytest.mark.parametrize(
        ("cells", "outcome", "line"),
        [
            ((1, 4, 2, 5, 3), "mika (X) won tic-tac-toe against rook (O) (line 1-2-3)", [1, 2, 3]),
            ((1, 2, 5, 3, 9), "mika (X) won tic-tac-toe against rook (O) (line 1-5-9)", [1, 5, 9]),
            ((1, 3, 2, 5, 4, 7), "rook (O) won tic-tac-toe against mika (X) (line 3-5-7)", [3, 5, 7]),
            ((5, 1, 9, 3, 2, 8, 4, 6, 7), "tic-tac-toe between mika (X) and rook (O) was a draw", []),
        ],
    )
    def test_outcomes(self, cells: tuple[int, ...], outcome: str, line: list[int]) -> None:
        game = game_after(*cells)
        result = game.outcome()
        assert result is not None and result.text == outcome
        assert game.view()["line"] == line and game.turn() == "" and game.actions() == []

    def test_turns_alternate_and_history_names_the_player(self) -> None:
        game = game_after(5, 1)
        assert game.turn() == "mika"
        assert game.history() == ["mika: X at 5", "rook: O at 1"]
        assert game.view()["board"][:5] == ["O", "", "", "", "X"]

    def test_first_setting_lets_o_start(self) -> None:
        game = game_after(first="O")
        assert game.turn() == "rook" and game.actions()[0].description.startswith("Put your O")

    def test_winners_and_losers_are_who_played(self) -> None:
        outcome = game_after(1, 4, 2, 5, 3).outcome()
        assert outcome is not None and (outcome.winners, outcome.losers) == (["mika"], ["rook"])

    def test_describe_draws_the_board_with_free_cells_numbered(self) -> None:
        text = game_after(5, 1).describe()
        assert " O | 2 | 3" in text and " 4 | X | 6" in text
        assert "X (mika) to move. Free cells: 2, 3, 4, 6, 7, 8, 9." in text

    def test_view_is_json(self) -> None:
        game = game_after(5, 1, 9)
        assert msgspec.json.decode(msgspec.json.encode(game.view())) == game.view()


class TestRanking:
    @pytest.mark.parametrize(
        ("cells", "top", "note"),
        [
            ((1, 4, 2, 5), 3, "wins now (line 1-2-3)"),        # X: two on the top row
            ((1, 5, 2), 3, "blocks mika's line 1-2-3"),        # O must block
            ((5, 2, 1, 9), 4, "makes a fork"),                 # X forks on 4 (1-4-7, 4-5-6)
            ((), 5, "centre"),
        ],
    )
    def test_top_option(self, cells: tuple[int, ...], top: int, note: str) -> None:
        option = game_after(*cells).actions()[0].options[0]
        assert option.arguments == {"cell": top} and note in option.note

    def test_a_losing_move_says_so(self) -> None:
        # X at 1, O at 2 (an edge) loses to perfect play: every such option says it
        options = game_after(1).actions()[0].options
        edge = next(o for o in options if o.arguments == {"cell": 2})
        assert "loses: mika can then force a win" in edge.note and edge.score < 0

    def test_the_enum_lists_the_ranking_best_first(self) -> None:
        action = game_after(1, 5).actions()[0]
        assert action.schema["properties"]["cell"]["enum"] == [o.arguments["cell"] for o in action.options]

    def test_two_top_ranked_players_always_draw(self) -> None:
        for first in ("X", "O"):
            game = game_after(first=first)
            play_picks(game, [0] * 9)
            outcome = game.outcome()
            assert outcome is not None and "was a draw" in outcome.text

    @pytest.mark.parametrize("top_side", ["X", "O"])
    def test_the_top_option_never_loses_against_any_reply(self, top_side: str) -> None:
        """Every reply of the other side, exhaustively: the top-ranked side never loses."""
        endings = []

        def explore(game: TicTacToe) -> None:
            outcome = game.outcome()
            if outcome is not None:
                endings.append(outcome)
                return
            options = game.actions()[0].options
            chosen = options[:1] if game.view()["to_move"] == top_side else options
            for option in chosen:
                branch = TicTacToe.restore(game.settings, game.snapshot())
                apply_now(branch, branch.turn(), "place", option.arguments)
                explore(branch)

        explore(game_after())
        loser = PLAYERS["O" if top_side == "X" else "X"]
        assert endings and all(o.losers in ([], [loser]) for o in endings)

    @pytest.mark.slow  # every reachable position: about 8 s on the shared 2-core machine
    def test_the_top_option_keeps_every_position_at_its_value(self) -> None:
        """From every reachable position, the top option leaves the mover as well off as
        perfect play (the test's own solver) says it is: a won position stays won."""
        seen: set[str] = set()
        checked = 0

        def explore(game: TicTacToe) -> None:
            nonlocal checked
            board = board_of(game)
            if board in seen or game.outcome() is not None:
                return
            seen.add(board)
            mark = game.view()["to_move"]
            options = game.actions()[0].options
            top = options[0].arguments["cell"] - 1
            after = board[:top] + mark + board[top + 1:]
            other = "O" if mark == "X" else "X"
            won = any(all(after[i] == mark for i in line) for line in LINES)
            value = 1 if won else 0 if "." not in after else -oracle(after, other)
            assert value == oracle(board, mark), (board, mark, options[0])
            checked += 1
            for option in options:
                branch = TicTacToe.restore(game.settings, game.snapshot())
                apply_now(branch, branch.turn(), "place", option.arguments)
                explore(branch)

        explore(game_after())
        assert checked == 4520  # every reachable position with a move to make


class TestRefusals:
    @pytest.mark.parametrize(
        ("actor", "name", "arguments", "match"),
        [
            ("mika", "place", {"cell": 5}, r"^cell 5 is taken \(X\); free: 2, 3, 4, 6, 7, 8, 9$"),
            ("mika", "place", {"cell": 10}, r"cell 10 is not on the board .*; free: 2, 3"),
            ("mika", "place", {"cell": 0}, r"cell 0 is not on the board"),
            ("mika", "place", {"cell": "five"}, r"^cell must be a whole number, got 'five'$"),
            ("mika", "place", {"cell": True}, r"cell must be a whole number, got True"),
            ("mika", "place", {"cell": 2.5}, r"cell must be a whole number, got 2.5"),
            ("mika", "place", {}, r"^place needs cell$"),
            ("mika", "place", {"cell": 2, "why": "fun"}, r"place takes only cell; not 'why'"),
            ("mika", "place", [2], r"place takes its arguments as an object \(cell\), got \[2\]"),
            ("mika", "jump", {"cell": 2}, r"there is no action 'jump'; legal now: place"),
            ("rook", "place", {"cell": 2}, r"it is mika's turn \(X\), not rook's"),
            ("\x1b[2Jeve", "place", {"cell": 2}, r"not \\x1b\[2Jeve's"),  # escaped
        ],
    )
    def test_refused_and_unchanged(self, actor: str, name: str, arguments: object, match: str) -> None:
        assert_refused(game_after(5, 1), actor, name, arguments, match)

    def test_a_whole_float_is_a_cell(self) -> None:
        game = game_after(5, 1)
        assert apply_now(game, "mika", "place", {"cell": 2.0}).ok
        assert game.snapshot()["moves"] == [5, 1, 2]

    def test_no_move_after_the_end(self) -> None:
        assert_refused(game_after(1, 4, 2, 5, 3), "rook", "place", {"cell": 6},
                       r"^the game is over \(mika \(X\) won .*\); no more moves$")

    @pytest.mark.parametrize(
        ("players", "match"),
        [
            ({"X": "mika"}, r"need X and O"),
            ({"X": "mika", "O": "rook", "Z": "eve"}, r"need X and O"),
            ({"X": "mika", "O": ""}, r"need X and O"),
        ],
    )
    def test_bad_players(self, players: dict[str, str], match: str) -> None:
        with pytest.raises(GameError, match=match):
            TicTacToe(TicTacToeSettings(), players)

    def test_registry_settings_are_checked(self) -> None:
        assert GAMES.load("tictactoe", {"first": "O"}, PLAYERS).turn() == "rook"
        with pytest.raises(PluginError, match=r"game 'tictactoe' settings.*first"):
            GAMES.load("tictactoe", {"first": "Z"}, PLAYERS)
        with pytest.raises(PluginError, match=r"unknown field `size`"):
            GAMES.load("tictactoe", {"size": 4}, PLAYERS)


class TestSnapshots:
    @FUZZ
    @given(st.lists(st.integers(0, 8), max_size=9), st.sampled_from(["X", "O"]))
    def test_any_game_restores_the_same_and_its_options_fit(self, picks: list[int], first: str) -> None:
        game = game_after(first=first)
        assert_options_fit(game)
        for result in play_picks(game, picks):
            assert result.ok
            assert_options_fit(game)
        restored = assert_restores(game, TicTacToeSettings())
        play_picks(game, [0])
        play_picks(restored, [0])
        assert restored.snapshot() == game.snapshot()

    @pytest.mark.parametrize(
        ("snapshot", "match"),
        [
            ({"kind": "chess", "players": PLAYERS, "first": "X", "moves": []}, r"does not restore"),
            ({"kind": "tictactoe", "players": PLAYERS, "first": "X"}, r"missing required field `moves`"),
            ({"kind": "tictactoe", "players": PLAYERS, "first": "X", "moves": [5, 5]},
             r"saved move 2 \(place \{'cell': 5\}\) does not replay: cell 5 is taken"),
            ({"kind": "tictactoe", "players": PLAYERS, "first": "X", "moves": [1, 4, 2, 5, 3, 6]},
             r"saved move 6 .* the game is over"),
            ({"kind": "tictactoe", "players": {"X": "mika"}, "first": "X", "moves": []}, r"need X and O"),
        ],
    )
    def test_a_bad_snapshot_is_a_game_error(self, snapshot: dict[str, object], match: str) -> None:
        with pytest.raises(GameError, match=match):
            TicTacToe.restore(TicTacToeSettings(), snapshot)

    def test_the_saved_first_side_wins_over_the_settings(self) -> None:
        game = game_after(5, first="O")
        restored = TicTacToe.restore(TicTacToeSettings(first="X"), game.snapshot())
        assert restored.view() == game.view() and restored.turn() == "mika"
