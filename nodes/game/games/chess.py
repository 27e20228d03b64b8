"""Chess through python-chess: a persona against chat's vote (``!move e4``), or two personas.

Actions: ``move`` with ``san`` (an ``enum`` of every legal move in standard algebraic
notation, best first: at most 218 in any position) and, when the settings allow it,
``resign``. Loose spellings are taken (``e2e4``, ``0-0``, ``nf3``, a missing ``+``) and
written back as the SAN the enum lists. A refusal says why (illegal, ambiguous between which
moves) and lists legal ones. Draws a player could claim end the game as soon as they are
reached (a third repetition, fifty moves without a capture or a pawn move): nobody here
claims them by hand.

The ranking is a cheap evaluation, no engine: checkmate now, material won by a capture or a
promotion, minus what the other side can then take (a piece left hanging, a capture that
loses the capturer), a check, castling, development; the best few are then checked for
allowing mate in one. Each option says why ("takes a knight", "leaves the queen on d4
hanging", "allows mate in one: Qh5#").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import chess
import msgspec

from messages.game import ActionOption, GameAction
from nodes.game.games import GameError, GameHooks
from nodes.game.games.rules import Refusal, TurnGame, load_snapshot, object_schema, show, word_list

__all__ = ["Chess", "ChessSettings", "rank"]

VALUES = {chess.PAWN: 100, chess.KNIGHT: 300, chess.BISHOP: 310, chess.ROOK: 500, chess.QUEEN: 900,
          chess.KING: 0}
"""Centipawns; the king is never won, and as an attacker it cannot take a defended piece."""
MATE = 100_000.0
MATE_CHECKED = 8
"""How many of the best moves are checked for allowing mate in one (the rest rank low anyway)."""
COLOURS = {"white": chess.WHITE, "black": chess.BLACK}
_SAN = re.compile(r"^([NBRQK])?[a-h]?[1-8]?x?([a-h][1-8])")
"""The piece and the target square of a SAN move, to name the moves an ambiguous one meant."""
_ENDINGS = {
    chess.Termination.CHECKMATE: "by checkmate",
    chess.Termination.STALEMATE: "by stalemate",
    chess.Termination.INSUFFICIENT_MATERIAL: "by insufficient material",
    chess.Termination.SEVENTYFIVE_MOVES: "by the seventy-five-move rule",
    chess.Termination.FIVEFOLD_REPETITION: "by fivefold repetition",
    chess.Termination.FIFTY_MOVES: "by the fifty-move rule",
    chess.Termination.THREEFOLD_REPETITION: "by threefold repetition",
}


class ChessSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    start_fen: str = chess.STARTING_FEN
    """The position the game starts from (FEN)."""
    allow_resign: bool = False
    """Offer ``resign`` as an action (off: a small model might call it on a whim)."""


class _Saved(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["chess"]
    players: dict[str, str]
    start_fen: str
    moves: list[str]
    """UCI moves in the order played."""
    resigned: Literal["", "white", "black"] = ""


def _centrality(square: chess.Square) -> int:
    """0 on the edge of the board to 3 on the four centre squares."""
    return 3 - max(abs(2 * chess.square_file(square) - 7), abs(2 * chess.square_rank(square) - 7)) // 2


def _side(colour: chess.Color) -> str:
    return "white" if colour == chess.WHITE else "black"


def _exposure(board: chess.Board, colour: chess.Color) -> tuple[int, chess.Square | None]:
    """The most ``colour`` loses to one capture by the other side: an undefended piece's whole
    value, a defended one's value above its cheapest attacker's; and where."""
    worst, where = 0, None
    for square in chess.SquareSet(board.occupied_co[colour] & ~board.kings):
        attackers = board.attackers(not colour, square)
        if not attackers:
            continue
        value = VALUES[board.piece_type_at(square) or chess.PAWN]
        if board.is_attacked_by(colour, square):
            cheapest = min(VALUES[board.piece_type_at(a) or chess.PAWN] or value for a in attackers)
            value = max(0, value - cheapest)
        if value > worst:
            worst, where = value, square
    return worst, where


def _piece(board: chess.Board, square: chess.Square) -> str:
    piece = board.piece_at(square)
    return f"the {chess.piece_name(piece.piece_type) if piece else 'piece'} on {chess.square_name(square)}"


def _judge(board: chess.Board, move: chess.Move, threatened: int) -> tuple[float, str]:
    """(score, note) of ``move`` for the side to move; ``threatened`` is what it stands to
    lose before moving (a move that lowers it saves a piece)."""
    us = board.turn
    captured = chess.PAWN if board.is_en_passant(move) else board.piece_type_at(move.to_square)
    gain = VALUES[captured] if captured else 0
    if move.promotion:
        gain += VALUES[move.promotion] - VALUES[chess.PAWN]
    check = board.gives_check(move)
    castle = board.is_castling(move)
    mover = board.piece_type_at(move.from_square)
    developing = mover in (chess.KNIGHT, chess.BISHOP) and chess.square_rank(move.from_square) in (0, 7)
    # minor pieces and pawns belong in the centre (the one positional idea kept: without it
    # the ranking shuffled a knight between the rim squares)
    central = (_centrality(move.to_square) - _centrality(move.from_square)
               if mover in (chess.PAWN, chess.KNIGHT, chess.BISHOP) else 0)
    board.push(move)
    try:
        if check and board.is_checkmate():
            return MATE, "checkmate"
        if not any(board.generate_legal_moves()):
            ahead = sum(VALUES[p.piece_type] * (1 if p.color == us else -1)
                        for p in board.piece_map().values())
            return -max(ahead, 0) - 1.0, "stalemate: a draw"
        loss, where = _exposure(board, us)
        notes = []
        if captured:
            notes.append(f"takes a {chess.piece_name(captured)}")
        if move.promotion:
            notes.append(f"promotes to a {chess.piece_name(move.promotion)}")
        if loss and where is not None:
            piece = _piece(board, where)
            notes.append(f"leaves {piece} hanging" if not gain else
                         f"but loses {piece}" if loss >= gain else f"but {piece} can be taken back")
        elif threatened:
            notes.append("saves a threatened piece")
        if check:
            notes.append("gives check")
        if castle:
            notes.append("castles")
        elif developing and not captured:
            notes.append(f"develops the {chess.piece_name(mover or chess.KNIGHT)}")
        elif mover == chess.PAWN and _centrality(move.to_square) == 3:
            notes.append("takes the centre")
    finally:
        board.pop()
    score = gain - loss + 30 * check + 40 * castle + 15 * developing + 10 * central
    return float(score), ", ".join(notes).replace(", but", " but")


def _mate_reply(board: chess.Board, move: chess.Move) -> str:
    """The other side's mate in one after ``move`` (its SAN), or ""."""
    board.push(move)
    try:
        for reply in board.legal_moves:
            if board.gives_check(reply):
                board.push(reply)
                mated = board.is_checkmate()
                board.pop()
                if mated:
                    return board.san(reply)
        return ""
    finally:
        board.pop()


def rank(board: chess.Board) -> list[tuple[chess.Move, float, str]]:
    """Every legal move of ``board``'s side to move as (move, score, note), best first."""
    threatened = _exposure(board, board.turn)[0]
    ranked = sorted(((move, *_judge(board, move, threatened)) for move in board.legal_moves),
                    key=lambda option: -option[1])
    for index, (move, score, _) in enumerate(ranked[:MATE_CHECKED]):
        if score < MATE and (mate := _mate_reply(board, move)):
            ranked[index] = (move, score - MATE / 2, f"allows mate in one: {mate}")
    ranked.sort(key=lambda option: -option[1])
    return ranked


class Chess(TurnGame):
    kind = "chess"
    title = "chess"
    sides = ("white", "black")
    Settings = ChessSettings

    def __init__(self, settings: ChessSettings, players: Mapping[str, str],
                 hooks: GameHooks | None = None):
        super().__init__(players, hooks)
        self.settings = settings
        try:
            self._board = chess.Board(settings.start_fen)
        except ValueError as exc:
            raise GameError(f"chess start_fen {show(settings.start_fen)}: {exc}") from None
        if not self._board.is_valid():
            raise GameError(f"chess start_fen {show(settings.start_fen)} is not a legal position "
                            f"({self._board.status()!r})")
        self._resigned = ""
        self._san: list[str] = []
        self._legal: dict[str, chess.Move] = {}
        self._ended: tuple[str | None, str] | None = None
        self._changed()

    @classmethod
    def restore(cls, settings: ChessSettings, snapshot: Mapping[str, Any],
                hooks: GameHooks | None = None) -> Chess:
        saved = load_snapshot(_Saved, snapshot, cls.kind)
        game = cls(msgspec.structs.replace(settings, start_fen=saved.start_fen, allow_resign=True),
                   saved.players, hooks)
        calls = [("move", {"san": uci}) for uci in saved.moves]
        if saved.resigned:
            calls.append(("resign", {}))
        game._replay(calls)
        game.settings = msgspec.structs.replace(game.settings, allow_resign=settings.allow_resign)
        return game

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "players": self.players(), "start_fen": self.settings.start_fen,
                "moves": [move.uci() for move in self._board.move_stack], "resigned": self._resigned}

    # --- rules -----------------------------------------------------------------------------

    def _changed(self) -> None:
        """After a move: the legal moves by SAN (SAN costs a move and a mate test each, so
        once a position) and whether the game is over (a draw claim looks at the history)."""
        self._legal = {self._board.san(move): move for move in self._board.legal_moves}
        if self._resigned:
            self._ended = (self._other_side(self._resigned), "by resignation")
            return
        outcome = self._board.outcome()
        if outcome is not None:
            winner = None if outcome.winner is None else _side(outcome.winner)
            self._ended = (winner, _ENDINGS[outcome.termination])
        elif self._board.is_repetition(3):
            # not outcome(claim_draw=True): that also ends the game when the mover *could*
            # claim through the move it is about to make, a move before the repetition
            self._ended = (None, _ENDINGS[chess.Termination.THREEFOLD_REPETITION])
        elif self._board.is_fifty_moves():
            self._ended = (None, _ENDINGS[chess.Termination.FIFTY_MOVES])
        else:
            self._ended = None

    def _mover(self) -> str:
        return _side(self._board.turn)

    def _schemas(self) -> dict[str, dict[str, Any]]:
        schemas = {"move": self._schema(list(self._legal))}
        if self.settings.allow_resign:
            schemas["resign"] = object_schema({})
        return schemas

    @staticmethod
    def _schema(sans: list[str]) -> dict[str, Any]:
        return object_schema({"san": {"type": "string", "enum": sans}})

    def normalize(self, name: str, arguments: object) -> object:
        if name != "move" or not isinstance(arguments, dict) or not isinstance(arguments.get("san"), str):
            return arguments
        text = arguments["san"].strip()
        for spelling in (text, text[:1].upper() + text[1:]):
            try:
                move = self._board.parse_san(spelling)
            except ValueError:
                continue
            return {**arguments, "san": self._board.san(move)}
        return arguments

    def _not_legal(self, name: str, field: str, value: Any) -> str:
        legal = list(self._legal)
        if not isinstance(value, str):
            return f"san must be a move like e4 or Nf3, got {show(value)}; legal: {word_list(legal)}"
        try:
            self._board.parse_san(value.strip())
        except chess.AmbiguousMoveError:
            found = _SAN.match(value.strip())
            piece = chess.PIECE_SYMBOLS.index(found.group(1).lower()) if found and found.group(1) else None
            meant = [san for san, move in self._legal.items()
                     if found and move.to_square == chess.parse_square(found.group(2))
                     and self._board.piece_type_at(move.from_square) == (piece or chess.PAWN)]
            return f"{show(value)} is ambiguous: {' or '.join(meant)}"
        except ValueError:
            pass
        # the moves of the piece named first: what the player most likely meant
        letter = value.strip()[:1]
        alike = [san for san in legal if san[:1] == letter] if letter in "NBRQKO" else []
        rest = [san for san in legal if san not in alike]
        return f"{show(value)} is not a legal move now; legal: {word_list(alike + rest)}"

    def _play(self, name: str, arguments: dict[str, Any]) -> str:
        side = self._mover()
        if name == "resign":
            self._resigned = side
            self._changed()
            return f"{side} resigns"
        san = arguments["san"]
        move = self._legal.get(san)
        if move is None:  # the schema lists these exact strings: cannot happen, but say so
            raise Refusal(self._not_legal(name, "san", san))
        number = f"{self._board.fullmove_number}{'.' if side == 'white' else '...'}"
        self._board.push(move)
        self._san.append(san)
        self._changed()
        return f"{side} {number} {san}"

    def _winner(self) -> tuple[str | None, str] | None:
        return self._ended

    # --- what the players see -------------------------------------------------------------

    def actions(self) -> list[GameAction]:
        if self._ended is not None:
            return []
        san_of = {move: san for san, move in self._legal.items()}
        ranked = [(san_of[move], score, note) for move, score, note in rank(self._board)]
        options = [ActionOption(arguments={"san": san}, note=note, score=score)
                   for san, score, note in ranked]
        actions = [GameAction(name="move", description="Play a chess move, in standard algebraic "
                              "notation (e4, Nf3, O-O, exd5, e8=Q).",
                              schema=self._schema([san for san, _, _ in ranked]), options=options)]
        if self.settings.allow_resign:
            actions.append(GameAction(name="resign", description="Give up the game.",
                                      schema=object_schema({})))
        return actions

    def _material(self) -> dict[str, int]:
        totals = {"white": 0, "black": 0}
        for piece in self._board.piece_map().values():
            totals[_side(piece.color)] += VALUES[piece.piece_type]
        return {side: round(total / 100) for side, total in totals.items()}

    def view(self) -> dict[str, Any]:
        return {"fen": self._board.fen(), "to_move": "" if self._ended else self._mover(),
                "move_number": self._board.fullmove_number, "check": self._board.is_check(),
                "last_move": self._san[-1] if self._san else "", "moves": list(self._san),
                "material": self._material(), "legal_moves": len(self._legal)}

    def describe(self) -> str:
        players = ", ".join(f"{side} is {who}" for side, who in self._players.items())
        lines = [f"Chess: {players}. Uppercase pieces are white."]
        files = "  a b c d e f g h"
        board = str(self._board).split("\n")
        lines += [files, *(f"{8 - row} {text} {8 - row}" for row, text in enumerate(board)), files]
        material = self._material()
        lines.append(f"Material in pawns: white {material['white']}, black {material['black']}.")
        if self._san:
            lines.append(f"Last move: {self._san[-1]}.")
        if (outcome := self.outcome()) is not None:
            lines.append(f"Over: {outcome.text}.")
        else:
            side = self._mover()
            check = " and is in check" if self._board.is_check() else ""
            lines.append(f"Move {self._board.fullmove_number}: {side} ({self._players[side]}) to "
                         f"move{check}; {len(self._legal)} legal moves.")
        return "\n".join(lines)
