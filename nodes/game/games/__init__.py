"""Games behind one small Protocol, one file each, registered in `GAMES`.

A game knows its rules and nothing of the bus: who plays which side, whose move it is, the
legal actions of that mover (each a tool with a JSON schema, its legal choices ranked with a
note for a player that cannot read a board), applying a call, and whether it is over. The
game node (`nodes/game/node.py`) publishes what it says, asks the director for moves, runs
chat's votes and saves it after every move.

Games (``GAMES.load(kind, settings, hooks)``):

- ``tictactoe``: two personas, or a persona against chat's vote.
- ``connect4``: the same on a 7x6 board.
- ``chess``: python-chess; a persona against chat's majority vote (``!move e4``).
- ``trivia``: the personas host, chat answers, scores per viewer.
- ``neuro``: games connected through the Neuro-API server (Neuro-sama's game SDK).
- ``minecraft``: the personas as bots in a Minecraft world, carrying out chat's requests.

A game that takes requests from chat and has a chat of its own (Minecraft) also implements
`HearsChat`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from bus.errors import PluginError
from bus.plugins import Registry
from messages.chat import ChatMessage
from messages.game import GameAction

__all__ = [
    "GAMES",
    "Game",
    "GameError",
    "GameHooks",
    "HearsChat",
    "Outcome",
    "Result",
]


class GameError(PluginError):
    """A game cannot start or go on: unknown kind, bad settings, a saved game that does not
    restore. The message says which and what to do."""


@dataclass(frozen=True)
class Result:
    """What applying one call did."""

    ok: bool
    message: str = ""
    """Refused: why, in words the player can act on ("cell 5 is taken; free: 1, 3, 9").
    Applied: what happened ("X at 5")."""
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(event, text, data) to publish on ``game/event`` besides ``moved``/``invalid``."""


@dataclass(frozen=True)
class Outcome:
    """How a finished game ended, for the announcement and for memory."""

    text: str
    """"mika won against rook", "draw", "chat won against rook"."""
    winners: list[str] = field(default_factory=list)
    losers: list[str] = field(default_factory=list)
    scores: dict[str, int] = field(default_factory=dict)
    """Per player (trivia: per viewer ``platform:user_id``)."""


@dataclass
class GameHooks:
    """What the game node gives a game that acts on its own (a Neuro client's messages, a
    trivia timer): report events and state changes as they happen."""

    event: Callable[[str, str, dict[str, Any], bool], None] = lambda event, text, data, speak: None
    """(event, text, data, speak): published on ``game/event``."""
    changed: Callable[[], None] = lambda: None
    """The state changed outside `Game.apply` (a client registered actions): publish it."""
    chat: Callable[[ChatMessage], None] = lambda msg: None
    """A line written in the game's own chat (a Minecraft player): the node publishes it on
    ``chat/incoming``, so it reaches the show like any chat."""


class Game(Protocol):
    """One game in progress. Built with ``cls(settings, players, hooks)`` where ``players`` is
    side -> who (a persona name or ``chat``), or restored from a `snapshot` with
    ``cls.restore(settings, snapshot, hooks)``.

    Optional methods the node uses when a game has them: ``announce() -> str`` (the line the
    start is said with; default "a game of KIND starts: A against B"), ``ballots(votes)``
    (chat's ballots, for scores per viewer), ``normalize(text) -> str`` (a vote as typed)."""

    Settings: ClassVar[type[msgspec.Struct]]
    kind: str

    def players(self) -> dict[str, str]:
        """side -> who plays it."""
        ...

    def turn(self) -> str:
        """Who moves next: a persona, ``chat``; "" when nobody has to (finished, waiting)."""
        ...

    def actions(self) -> list[GameAction]:
        """The legal actions of whoever moves next, options ranked best first."""
        ...

    def view(self) -> dict[str, Any]:
        """The state as data (board, scores...) for ``game/state``."""
        ...

    def describe(self) -> str:
        """The position in a few lines for the mover's prompt."""
        ...

    def history(self) -> list[str]:
        """Moves so far, oldest first, as lines ("mika: X at 5")."""
        ...

    async def apply(self, actor: str, name: str, arguments: dict[str, Any]) -> Result:
        """Apply ``actor``'s call of action ``name``; refused (``ok`` False) when it is not
        ``actor``'s move or the call is not legal: nothing changes then."""
        ...

    def outcome(self) -> Outcome | None:
        """None while the game goes on."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to resume this very position (JSON-safe)."""
        ...

    async def aclose(self) -> None:
        """Release connections and timers (a Neuro server's socket)."""
        ...


@runtime_checkable
class HearsChat(Protocol):
    """A game that takes requests from chat ("Mika, come to me") and answers in its own chat."""

    def heard(self, msg: ChatMessage) -> bool:
        """A chat line from any platform: True when the game took it as a request to one of
        its players (the node then asks that player's move; the director does not also reply
        to it as chat)."""
        ...

    def taken(self) -> list[str]:
        """Ids of the chat messages taken as requests, newest last (bounded)."""
        ...

    def said(self, persona: str, text: str) -> None:
        """``persona`` finished a line answering the game's own chat or one of its requests:
        the game may say it there too."""
        ...


GAMES = Registry[Game]("game", {
    "tictactoe": "nodes.game.games.tictactoe:TicTacToe",
    "connect4": "nodes.game.games.connect4:ConnectFour",
    "chess": "nodes.game.games.chess:Chess",
    "trivia": "nodes.game.games.trivia:Trivia",
    "neuro": "nodes.game.neuro.game:NeuroGames",
    "minecraft": "nodes.game.games.minecraft:Minecraft",
})
"""Game kind -> ``module:class``; modules are imported only when that game is played."""
