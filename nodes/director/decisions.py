"""The director's decisions, as data: what `nodes.director.turns` answers and the node
publishes (it never calls the bus itself); the turns they are about: one that wants the
floor (`Candidate`) and one that has it (`ActiveTurn`), and what a game's turn is about
(`MoveAsk`, `CommentAsk`) or what the screen showed (`SceneAsk`, watch mode).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from messages.director import Persona, Turn
from messages.game import GameEvent, GameState
from messages.llm import Image, LlmRequest
from messages.memory import ConversationTurn
from nodes.director.deadlines import TurnClock
from nodes.director.floor import Plan
from nodes.director.history import Line, SpokenSentence

if TYPE_CHECKING:
    from bus.node import Trace

__all__ = ["ActiveTurn", "Announce", "Ask", "Candidate", "CommentAsk", "Count", "GameAsk", "Log",
           "MoveAsk", "Out", "Remember", "SceneAsk", "Stop", "WakeIn", "Wanted"]


@dataclass(frozen=True)
class Announce:
    """``turn`` has the floor; ``persona``: the persona speaking now, when it changed."""

    turn: Turn
    persona: Persona | None
    trace: Trace | None


@dataclass(frozen=True)
class Ask:
    """Send ``request`` to the LLM, as part of ``trace``."""

    request: LlmRequest
    trace: Trace | None


@dataclass(frozen=True)
class Stop:
    """Cancel ``request_id`` at the LLM, the TTS and the speaker."""

    request_id: str
    reason: str


@dataclass(frozen=True)
class Remember:
    line: ConversationTurn


@dataclass(frozen=True)
class Log:
    text: str
    level: int = logging.WARNING


@dataclass(frozen=True)
class Count:
    counter: str


@dataclass(frozen=True)
class WakeIn:
    """Call `Turns.tick` again after ``seconds`` (a cut turn's grace ends then)."""

    seconds: float


Out = Announce | Ask | Stop | Remember | Log | Count | WakeIn


@dataclass(frozen=True)
class MoveAsk:
    """A persona's move: the game state that asks for it (its ``move_id`` and ``turn``)."""

    state: GameState

    @property
    def move_id(self) -> str:
        return self.state.move_id


@dataclass(frozen=True)
class CommentAsk:
    """A game event for a persona to say aloud, and when it came (an old one is dropped)."""

    event: GameEvent
    at: float


@dataclass(frozen=True)
class SceneAsk:
    """What the screen showed (watch mode, ``game/frame``): a new scene to comment on, the one
    a comment was about (for the answer to it), or the screen now (for a reply to chat)."""

    description: str
    """The watch node's line or two about it (colours, brightness, motion, text)."""
    text: str = ""
    """Text read on the screen (OCR). Anyone can write on a screen: it is quoted as text
    seen, never given to a persona as something to do."""
    image: Image | None = None
    """The frame, for a model that can see."""
    scene: int = 0
    """The watch node's scene number."""
    at: float = 0.0
    """When it was seen (monotonic seconds)."""


GameAsk = MoveAsk | CommentAsk | SceneAsk


@dataclass(frozen=True)
class Candidate:
    """A turn that wants the floor."""

    plan: Plan
    viewer: str = ""
    trace: Trace | None = None
    line: Line | None = None
    """The chat line answered, put into the conversation when the turn starts."""
    said: ConversationTurn | None = None
    """The human's line answered: into the conversation and memory when it is taken."""
    keep: bool = False
    """A chat answer or a turn asked again: put back first in line when the floor is lost
    before its request went out."""
    game: GameAsk | None = None
    """A game's turn: the move asked for, or the event to say; or the scene a comment on
    the screen (or the answer to one) is about."""


class Wanted(Enum):
    CHAT = "chat"
    """The chat node's best line: ask ``chat/next``, hand the answer to `Turns.chat_chosen`."""


@dataclass
class ActiveTurn:
    """A persona's turn from request to the last audible sample."""

    plan: Plan
    request_id: str
    viewer: str
    clock: TurnClock
    trace: Trace | None = None
    keep: bool = False
    sentences: dict[int, SpokenSentence] = field(default_factory=dict)
    request: LlmRequest | None = None
    """As sent, to ask again an LLM that lost it."""
    cut_off: bool = False
    game: GameAsk | None = None

    def sentence(self, index: int) -> SpokenSentence:
        return self.sentences.setdefault(index, SpokenSentence(index))

    def _spoken(self) -> list[SpokenSentence]:
        return [s for s in self.sentences.values() if s.text.strip()]

    def heard_to_the_end(self) -> bool:
        return self.clock.done_at is not None and all(s.finished for s in self._spoken())

    def audio_complete(self) -> bool:
        """Every sentence said so far has all its audio (the TTS's part is over for them)."""
        return all(s.complete for s in self._spoken())
