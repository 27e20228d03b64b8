"""Games: the state of the game on the table, its events, commands, screen frames.

The game node publishes `GameState` (latched ``game/state``) after every change: which game,
who plays which side, whose move it is and the legal actions of that mover, the board as
data and as a short text for a prompt, scores and move history. The director reads it to
give a persona its move (the actions become the request's tools); the game node takes the
call back from ``llm/tool_call``, validates it and answers with a new state and a
`GameEvent` (``moved``, ``invalid``, ``finished``...).
"""

from __future__ import annotations

from typing import Any

import msgspec

from messages.base import Message

__all__ = ["ActionOption", "GameAction", "GameCommand", "GameEvent", "GameFrame", "GameState"]


class ActionOption(msgspec.Struct, kw_only=True, frozen=True):
    """One legal choice for an action, as the game ranks it for a player who cannot read the
    board (a small model): the arguments to call it with and why it is good or bad."""

    arguments: dict[str, Any]
    note: str = ""
    """Why: "wins now", "blocks Rook's row", "centre"; empty when the game has no opinion."""
    score: float = 0.0
    """The game's ranking, higher is better (options come best first)."""


class GameAction(msgspec.Struct, kw_only=True, frozen=True):
    """A legal action of the mover: a tool the LLM may call."""

    name: str
    description: str = ""
    schema: dict[str, Any] = {}
    """JSON schema of the arguments, restricted to the legal choices where the game can say
    them (an ``enum`` of cells): constrained decoding then cannot name an illegal move."""
    options: list[ActionOption] = []
    """The legal choices, ranked; empty when they cannot be listed (free text, a huge space)."""


class GameState(Message, tag="game.GameState"):
    game: str
    """The game's kind (``tictactoe``, ``chess``, ``neuro``...); empty: no game on."""
    state: dict[str, Any] = {}
    """The game's own view: board, scores, whatever it shows (``game/state`` in vttopic)."""
    game_id: str = ""
    """One game from its start to its end (a restart of the node resumes the same id)."""
    players: dict[str, str] = {}
    """side -> who plays it: a persona name, ``chat`` (chat's vote) or a viewer."""
    turn: str = ""
    """Who moves next (a persona, ``chat``); empty when nobody has to."""
    actions: list[GameAction] = []
    """The legal actions of ``turn``."""
    text: str = ""
    """The position in a few lines, for a prompt."""
    moves: list[str] = []
    """What happened so far, oldest first ("mika: X at 5")."""
    move_id: str = ""
    """Changes with every move asked for: a call answering an older one is stale."""
    attempt: int = 0
    """How many invalid calls this move has had (the persona retries up to a limit)."""
    last_error: str = ""
    """Why the last call was refused, for the retry's prompt."""
    finished: bool = False
    outcome: str = ""
    """When finished: "mika won against rook", "draw"..."""
    hears_chat: bool = False
    """The game reads every chat line for requests to its players (Minecraft: "Mika, come
    to me"): the director holds a fresh chat line a moment to see whether the game takes it."""
    asks: list[str] = []
    """Ids of the chat messages the game took as requests, newest last: a persona's move
    answers them, so the director does not also reply to them as chat."""


class GameEvent(Message, tag="game.GameEvent"):
    game: str
    event: str
    """``started``, ``moved``, ``invalid``, ``finished``, ``vote_open``, ``vote_result``,
    ``question``, ``answer``, ``context`` (a Neuro game's news), ``stopped``..."""
    data: dict[str, Any] = {}
    text: str = ""
    """A line a persona may say about it (the director decides who, and whether)."""
    speak: bool = False
    """Whether a persona should react aloud (a Neuro context that is not silent, a trivia
    question, a result)."""
    persona: str = ""
    """Who the event concerns or who should speak about it; empty: anyone."""
    game_id: str = ""


class GameCommand(Message, tag="game.GameCommand"):
    game: str
    command: str
    arguments: dict[str, Any] = {}
    call_id: str = ""


class GameFrame(Message, tag="game.GameFrame"):
    """A screen grab (``game/frame``, watch mode), downscaled and compressed before it is
    published, with what the watch node saw in it. Every captured frame is published; the
    first frame of a new scene (a cut, a new menu, a death screen) has ``changed`` set and,
    read from it, the text on screen."""

    width: int
    height: int
    data: bytes
    """The picture, encoded as ``encoding`` (``jpeg`` or ``png``), sized for the bus."""
    encoding: str = "jpeg"
    source: str = ""
    """What is watched: ``screen``, ``monitor 2``, ``window 'Minecraft'``, ``region ...``."""
    index: int = 0
    """Frames captured since watching started."""
    scene: int = 0
    """Which scene this frame belongs to (counts the scene changes)."""
    changed: bool = False
    """This frame starts a new scene."""
    change: float = 0.0
    """How far it is from the scene before (0 the same .. 1 nothing alike)."""
    text: str = ""
    """Text read on the screen (OCR), on a scene's first frame."""
    brightness: float = 0.0
    """0 black .. 1 white."""
    motion: float = 0.0
    """Share of the picture that changed since the frame before (0..1)."""
    colours: list[str] = []
    """Dominant colours by name ("dark blue", "red"), most of the picture first."""
    description: str = ""
    """All of the above in a line or two for a prompt ("A new scene: mostly black, with the
    text 'GAME OVER'.")."""
