"""The move being asked for: who moves, its ``move_id``, its attempts and deadline, and which
tool calls answer it. Pure logic: the caller passes the clock.

Every ask (a new move, or the same move asked again after an invalid call or a timeout) gets
a new ``move_id`` = ``GAME_ID.N``. The director's request for a move carries it as its
``request_id``, alone or followed by ``/`` and anything (``a1b2c3.7/r42``), so a call
answering an older ask (a model that made two calls, a request that outlived its timeout) is
told apart from the answer to this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from messages.game import GameAction
from nodes.game.votes import ranked_options

__all__ = ["CallVerdict", "Moves", "answers", "ranked_calls"]

CallVerdict = Literal["ok", "not_mover", "stale", "no_move"]


def answers(request_id: str, move_id: str) -> bool:
    """Whether a call made for ``request_id`` answers the ask ``move_id``."""
    return bool(move_id) and (request_id == move_id or request_id.startswith(move_id + "/"))


def ranked_calls(actions: list[GameAction], limit: int) -> list[tuple[str, dict[str, Any]]]:
    """The game's best ``limit`` calls, best first (what is played for a mover out of tries)."""
    return [(action.name, dict(option.arguments))
            for action, option in ranked_options(actions)[:limit]]


@dataclass
class Moves:
    """The asks of one game.

    Parameters
    ----------
    game_id:
        The game's id, the first part of every ``move_id``.
    ask:
        Asks so far (a resumed game goes on counting from its save).
    """

    game_id: str
    ask: int = 0
    mover: str = ""
    """Who the current ask is for ("" when nobody has to move)."""
    attempt: int = 0
    """Failed calls (or timeouts) of the current move."""
    last_error: str = ""
    asked_at: float = 0.0

    @property
    def move_id(self) -> str:
        return f"{self.game_id}.{self.ask}" if self.mover else ""

    def new_move(self, mover: str, now: float) -> None:
        """Ask ``mover`` for a new move (no attempts yet)."""
        self.mover = mover
        self.attempt, self.last_error = 0, ""
        self._ask_again(now)

    def failed(self, reason: str, now: float, *, max_attempts: int) -> bool:
        """The current ask failed (an invalid call, no call in time, nobody voted): ask again
        with a new ``move_id``; True when that was the last attempt allowed."""
        self.attempt += 1
        self.last_error = reason
        self._ask_again(now)
        return self.attempt >= max_attempts

    def resumed(self, now: float) -> None:
        """The node restarted: the same ask stands, its deadline counts from now."""
        self.asked_at = now

    def check(self, persona: str, request_id: str) -> CallVerdict:
        """Whether a call of ``persona`` for ``request_id`` is the answer awaited now."""
        if not self.mover:
            return "no_move"
        if persona != self.mover:
            return "not_mover"
        return "ok" if answers(request_id, self.move_id) else "stale"

    def overdue(self, now: float, timeout_s: float) -> bool:
        return bool(self.mover) and now - self.asked_at >= timeout_s

    def _ask_again(self, now: float) -> None:
        self.ask += 1
        self.asked_at = now
