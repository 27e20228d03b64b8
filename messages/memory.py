"""Long-term memory: finished turns in, ranked memories out, and forgetting a viewer."""

from __future__ import annotations

from messages.base import Message, service_type

__all__ = [
    "ConversationTurn",
    "ForgetViewer",
    "ForgetViewerRequest",
    "ForgetViewerResponse",
    "MemoryHit",
    "MemoryQuery",
    "MemoryResults",
    "SearchMemory",
]


class ConversationTurn(Message, tag="memory.ConversationTurn"):
    """A finished turn (``memory/turn``): only the words that were actually heard."""

    turn_id: str
    speaker: str
    text: str
    persona: str = ""
    viewer: str = ""
    """``platform:user_id`` of the viewer this turn answers or comes from."""
    stream: str = ""
    cut_off: bool = False
    stamp_ns: int = 0


class MemoryQuery(Message, tag="memory.MemoryQuery"):
    """Search memories (service ``memory/search``)."""

    query: str
    persona: str = ""
    viewer: str = ""
    k: int = 5


class MemoryHit(Message, tag="memory.MemoryHit"):
    """One memory with its relevance (higher is better) and where it came from."""

    text: str
    score: float
    kind: str = ""
    persona: str = ""
    viewer: str = ""
    stream: str = ""
    stamp_ns: int = 0
    source_turn: str = ""


class MemoryResults(Message, tag="memory.MemoryResults"):
    hits: list[MemoryHit] = []


class ForgetViewerRequest(Message, tag="memory.ForgetViewerRequest"):
    viewer: str
    """``platform:user_id``."""


class ForgetViewerResponse(Message, tag="memory.ForgetViewerResponse"):
    removed: int = 0


SearchMemory = service_type("memory.Search", MemoryQuery, MemoryResults)
ForgetViewer = service_type("memory.ForgetViewer", ForgetViewerRequest, ForgetViewerResponse)
