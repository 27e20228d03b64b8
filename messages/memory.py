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
    "MemoryStored",
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


class MemoryStored(Message, tag="memory.MemoryStored"):
    """Memories made durable (``memory/stored``): after this, a crash loses none of them.

    ``ids`` are the turn ids of ``memory/turn`` messages, ``chat:<platform>:<message id>`` for
    chat lines, ``summary:...`` for episodic summaries.
    """

    ids: list[str] = []


class MemoryQuery(Message, tag="memory.MemoryQuery"):
    """Search memories (service ``memory/search``).

    ``viewer`` (``platform:user_id``) limits the results to that viewer's memories plus the
    ones about no viewer; another viewer's memories are never returned. ``persona`` likewise
    limits them to that persona's and the shared ones. Empty means no limit. ``k`` is capped
    by the node's ``max_k`` parameter.
    """

    query: str
    persona: str = ""
    viewer: str = ""
    k: int = 5


class MemoryHit(Message, tag="memory.MemoryHit"):
    """One memory with its relevance (cosine similarity, higher is better) and its origin.

    ``kind`` is ``turn`` (a conversation turn as heard), ``chat`` (a viewer's chat line),
    ``summary`` (an episodic summary of a conversation) or ``fact`` (extracted by Mem0).
    """

    text: str
    score: float
    kind: str = ""
    persona: str = ""
    viewer: str = ""
    stream: str = ""
    stamp_ns: int = 0
    source_turn: str = ""
    cut_off: bool = False
    """The turn was interrupted: ``text`` is what was heard before the cut."""


class MemoryResults(Message, tag="memory.MemoryResults"):
    hits: list[MemoryHit] = []


class ForgetViewerRequest(Message, tag="memory.ForgetViewerRequest"):
    viewer: str
    """``platform:user_id``."""


class ForgetViewerResponse(Message, tag="memory.ForgetViewerResponse"):
    removed: int = 0


SearchMemory = service_type("memory.Search", MemoryQuery, MemoryResults)
ForgetViewer = service_type("memory.ForgetViewer", ForgetViewerRequest, ForgetViewerResponse)
