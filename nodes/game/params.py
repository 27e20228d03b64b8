"""The game node's parameters (read without starting it: ``vtparam describe nodes.game``).

All but ``state_dir`` take effect when set: ``game`` starts (or stops) a game at once, the
others are read where they are used (the next game, the next vote window, the next call).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from bus.params import Parameters, at_start, live

__all__ = ["Params"]


class Params(Parameters):
    game: Annotated[str, live(
        "the game to play: tictactoe, connect4, chess, trivia, neuro, minecraft ('' none; chat's "
        "!game start KIND also starts one). A set starts it now, stopping the one on; at "
        "start a saved game in progress is resumed instead", max_length=32)] = ""
    players: Annotated[dict[str, dict[str, str]], live(
        "kind -> side -> who plays it (a persona name, or 'chat' for chat's vote), used "
        "when a game of that kind starts")] = msgspec.field(default_factory=lambda: {
            "tictactoe": {"X": "mika", "O": "rook"},
            "connect4": {"red": "mika", "yellow": "rook"},
            "chess": {"white": "chat", "black": "rook"},
            "trivia": {"host": "mika", "cohost": "rook", "players": "chat"},
            "minecraft": {"mika": "mika", "rook": "rook"},
        })
    settings: Annotated[dict[str, dict[str, Any]], live(
        "kind -> that game's settings table (checked by its Settings when set), used when a "
        "game of that kind starts")] = {}
    vote_s: Annotated[float, live(
        "how long chat's vote window stays open (read when one opens)", gt=0, le=3600)] = 30.0
    max_voters: Annotated[int, live(
        "distinct viewers one vote window remembers; later ones are counted as turned away "
        "(a flood of new accounts keeps memory bounded)", ge=1, le=1_000_000)] = 10_000
    max_attempts: Annotated[int, live(
        "invalid or missing calls a move may have; then the game's top-ranked choice is "
        "played for the mover (event auto_move)", ge=1, le=20)] = 3
    move_timeout_s: Annotated[float, live(
        "a persona's move with no valid call for this long counts as a failed attempt (the "
        "move is asked again with a new move_id)", gt=0)] = 90.0
    apply_timeout_s: Annotated[float, live(
        "how long a game may take to apply one call (a Neuro client answering) before it "
        "counts as refused", gt=0)] = 30.0
    replies_per_window: Annotated[int, live(
        "chat replies explaining refused votes per vote window (the rest are only counted)",
        ge=0)] = 5
    game_command: Annotated[str, live(
        "chat command that starts and stops games (moderators and the broadcaster only): "
        "!game start KIND, !game stop", min_length=1)] = "game"
    vote_commands: Annotated[tuple[str, ...], live(
        "chat commands that vote for chat's move or answer a question")] = (
        "move", "vote", "answer")
    stream: Annotated[str, live("stream id stored with the outcomes sent to memory")] = ""
    state_dir: Annotated[str, at_start(
        "folder of the saved game in progress ('' = $VT_DATA_DIR/game, else "
        "~/.local/share/vtshow/game)")] = ""
