"""nodes.game.games.chess: moves by SAN (and loose spellings), every ending, the cheap
ranking, refusals that name legal moves, resuming from FEN + moves."""

from __future__ import annotations

import chess
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
from nodes.game.games.chess import Chess, ChessSettings

FUZZ = settings(max_examples=60, derandomize=True, print_blob=True, deadline=None)
PLAYERS = {"white": "rook", "black": "chat"}


def game_after(*sans: str, fen: str = chess.STARTING_FEN, resign: bool = False) -> Chess:
    game = Chess(ChessSettings(start_fen=fen, allow_resign=resign), PLAYERS)
    for san in sans:
        result = apply_now(game, game.turn(), "move", {"san": san})
        assert result.ok, result.message
    return game


def option(game: Chess, san: str) -> tuple[float, str]:
    found = next(o for o in game.actions()[0].options if o.arguments["san"] == san)
    return found.score, found.note


class TestMoves:
    @pytest.mark.parametrize(
        ("spelling", "san"),
        [
            ("e4", "e4"),
            ("e2e4", "e4"),     # UCI
            (" Nf3 ", "Nf3"),
            ("nf3", "Nf3"),     # a lower-case piece letter
            ("g1f3", "Nf3"),
        ],
    )
    def test_loose_spellings_are_played_as_their_san(self, spelling: str, san: str) -> None:
        game = game_after()
        result = apply_now(game, "rook", "move", {"san": spelling})
        assert result.ok and result.message == f"white 1. {san}"
        assert game.view()["moves"] == [san]

    def test_castling_by_zeros_and_check_suffix_added(self) -> None:
        game = game_after("e4", "e5", "Nf3", "Nc6", "Bc4", "Bc5")
        assert apply_now(game, "rook", "move", {"san": "0-0"}).ok
        game = game_after("e4", "f6", "d4", "g5")
        assert apply_now(game, "rook", "move", {"san": "Qh5"}).message == "white 3. Qh5#"

    def test_history_and_view(self) -> None:
        game = game_after("e4", "e5")
        assert game.history() == ["rook: white 1. e4", "chat: black 1... e5"]
        view = game.view()
        assert (view["to_move"], view["move_number"], view["last_move"], view["legal_moves"]) == (
            "white", 2, "e5", 29)
        assert view["material"] == {"white": 39, "black": 39}

    def test_describe_shows_the_board_and_whose_move(self) -> None:
        text = game_after("e4").describe()
        assert "8 r n b q k b n r 8" in text and "4 . . . . P . . . 4" in text
        assert text.endswith("Move 1: black (chat) to move; 20 legal moves.")


class TestEndings:
    @pytest.mark.parametrize(
        ("fen", "sans", "outcome"),
        [
            (chess.STARTING_FEN, ("f3", "e5", "g4", "Qh4#"),
             "chat (black) won chess against rook (white) by checkmate"),
            ("7k/5Q2/6K1/8/8/8/8/8 w - - 0 1", ("Qf8#",),
             "rook (white) won chess against chat (black) by checkmate"),
            ("k7/8/1Q6/8/8/8/8/7K w - - 0 1", ("Qc7",),
             "chess between rook (white) and chat (black) was a draw by stalemate"),
            ("k7/8/8/8/8/8/1p6/7K b - - 0 1", ("b1=B",),
             "chess between rook (white) and chat (black) was a draw by insufficient material"),
            (chess.STARTING_FEN, ("Nf3", "Nf6", "Ng1", "Ng8", "Nf3", "Nf6", "Ng1", "Ng8"),
             "chess between rook (white) and chat (black) was a draw by threefold repetition"),
            ("k7/8/8/8/8/8/8/2R4K w - - 99 80", ("Rc2",),
             "chess between rook (white) and chat (black) was a draw by the fifty-move rule"),
        ],
    )
    def test_endings(self, fen: str, sans: tuple[str, ...], outcome: str) -> None:
        game = game_after(*sans, fen=fen)
        result = game.outcome()
        assert result is not None and result.text == outcome
        assert game.turn() == "" and game.actions() == [] and game.view()["to_move"] == ""

    def test_resignation_when_allowed(self) -> None:
        game = game_after("e4", resign=True)
        assert [a.name for a in game.actions()] == ["move", "resign"]
        assert apply_now(game, "chat", "resign", {}).message == "black resigns"
        outcome = game.outcome()
        assert outcome is not None and outcome.text.endswith("by resignation")
        assert outcome.winners == ["rook"] and outcome.losers == ["chat"]

    def test_resignation_is_no_action_by_default(self) -> None:
        assert_refused(game_after("e4"), "chat", "resign", {},
                       r"there is no action 'resign'; legal now: move$")


class TestRanking:
    def test_mate_in_one_comes_first(self) -> None:
        game = game_after(fen="6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1")
        top = game.actions()[0].options[0]
        assert (top.arguments, top.note) == ({"san": "Ra8#"}, "checkmate")

    def test_a_free_queen_is_taken(self) -> None:
        game = game_after(fen="4k3/8/8/3q4/4P3/8/8/4K3 w - - 0 1")
        top = game.actions()[0].options[0]
        assert top.arguments == {"san": "exd5"} and "takes a queen" in top.note

    def test_a_move_that_hangs_the_queen_says_so_and_ranks_low(self) -> None:
        # the white queen on d1 may go to d5, where the black pawn on e6 takes it
        game = game_after(fen="4k3/8/4p3/8/8/8/8/3QK3 w - - 0 1")
        score, note = option(game, "Qd5")
        assert "leaves the queen on d5 hanging" in note and score < -500
        assert game.actions()[0].options[0].arguments != {"san": "Qd5"}

    def test_a_threatened_piece_is_saved(self) -> None:
        # the black pawn on e5 attacks the white knight on d4 (nothing defends it)
        game = game_after(fen="4k3/8/8/4p3/3N4/8/8/4K3 w - - 0 1")
        top = game.actions()[0].options[0]
        assert top.arguments["san"].startswith("N") and "saves a threatened piece" in top.note
        score, note = option(game, "Kd2")  # the king walks away: the knight is still lost
        assert "leaves the knight on d4 hanging" in note and score < top.score

    def test_allowing_mate_in_one_is_marked(self) -> None:
        # white's back rank is open: any move but one that gives the king air or guards the
        # rank allows Re1#; the ranking must not pick such a move first
        game = game_after(fen="4r1k1/8/8/8/8/8/5PPP/6K1 w - - 0 1")
        notes = {o.arguments["san"]: o.note for o in game.actions()[0].options}
        assert any(note.startswith("allows mate in one: Re1#") for note in notes.values())
        assert not game.actions()[0].options[0].note.startswith("allows mate")

    def test_opening_moves_develop(self) -> None:
        assert "develops the knight" in game_after().actions()[0].options[0].note


class TestRefusals:
    @pytest.mark.parametrize(
        ("actor", "arguments", "match"),
        [
            ("rook", {"san": "Ke5"}, r"^'Ke5' is not a legal move now; legal: Kf2, Ke2, Kd2, Kf1, Kd1, N"),
            ("rook", {"san": "e5"}, r"'e5' is not a legal move now; legal:"),
            ("rook", {"san": 42}, r"san must be (text|a move like e4 or Nf3), got 42"),
            ("rook", {"san": "x" * 500}, r"^'x{30,}… is not a legal move"),   # cut short
            ("rook", {}, r"move needs san"),
            ("chat", {"san": "Nc3"}, r"it is rook's turn \(white\), not chat's"),
        ],
    )
    def test_refused_and_unchanged(self, actor: str, arguments: object, match: str) -> None:
        assert_refused(game_after(fen="4k3/8/8/8/8/8/8/1N2K1N1 w - - 0 1"), actor, "move",
                       arguments, match)

    def test_an_ambiguous_move_names_the_moves_it_could_be(self) -> None:
        game = game_after(fen="4k3/8/8/8/8/8/8/1N3NK1 w - - 0 1")
        assert_refused(game, "rook", "move", {"san": "Nd2"},
                       r"^'Nd2' is ambiguous: (Nbd2 or Nfd2|Nfd2 or Nbd2)$")

    def test_no_move_after_the_end(self) -> None:
        assert_refused(game_after("f3", "e5", "g4", "Qh4#"), "rook", "move", {"san": "e4"},
                       r"the game is over \(chat \(black\) won chess")

    @pytest.mark.parametrize(
        ("fen", "match"),
        [
            ("not a fen", r"chess start_fen 'not a fen'"),
            ("8/8/8/8/8/8/8/8 w - - 0 1", r"not a legal position"),
        ],
    )
    def test_a_bad_start_position_is_a_game_error(self, fen: str, match: str) -> None:
        with pytest.raises(GameError, match=match):
            Chess(ChessSettings(start_fen=fen), PLAYERS)

    def test_registry_settings_are_checked(self) -> None:
        with pytest.raises(PluginError, match=r"unknown field `engine`"):
            GAMES.load("chess", {"engine": "stockfish"}, PLAYERS)


class TestSnapshots:
    @FUZZ
    @given(st.lists(st.integers(0, 217), max_size=24))
    def test_any_game_restores_the_same_and_its_options_fit(self, picks: list[int]) -> None:
        game = game_after()
        for _ in play_picks(game, picks):
            pass
        assert_options_fit(game)
        assert_restores(game, ChessSettings())

    def test_a_game_from_a_position_resumes_from_its_fen_and_moves(self) -> None:
        fen = "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1"
        game = game_after("e4", "Kd7", "e5", fen=fen, resign=True)
        assert apply_now(game, "chat", "resign", {}).ok
        saved = game.snapshot()
        assert (saved["start_fen"], saved["moves"], saved["resigned"]) == (
            fen, ["e2e4", "e8d7", "e4e5"], "black")
        restored = assert_restores(game, ChessSettings())  # other settings: the saved FEN counts
        assert restored.outcome() is not None

    @pytest.mark.parametrize(
        ("snapshot", "match"),
        [
            ({"moves": ["e2e5"]}, r"saved move 1 \(move \{'san': 'e2e5'\}\) does not replay"),
            ({"moves": ["e2e4", "e2e4"]}, r"saved move 2"),
            ({"start_fen": "nonsense"}, r"chess start_fen 'nonsense'"),
            ({"resigned": "green"}, r"does not restore: Invalid enum value 'green' - at `\$.resigned`"),
        ],
    )
    def test_a_bad_snapshot_is_a_game_error(self, snapshot: dict[str, object], match: str) -> None:
        full = {"kind": "chess", "players": PLAYERS, "start_fen": chess.STARTING_FEN, "moves": [],
                "resigned": "", **snapshot}
        with pytest.raises(GameError, match=match):
            Chess.restore(ChessSettings(), full)
