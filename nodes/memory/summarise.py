"""Episodic summaries of long conversations, cheaply: no LLM, the turns' embeddings only.

A conversation is the run of turns in one stream with one viewer (or with no viewer: the
show itself), so a summary never mixes two viewers' memories. When it reaches ``every``
turns, or has been quiet for ``idle_s`` seconds with at least ``min_turns``, it becomes one
``summary`` memory made of its most central turns: the ones nearest the mean of the turn
embeddings, picked with a redundancy penalty (maximal marginal relevance) and kept in the
order they were said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nodes.memory.records import MemoryRecord

__all__ = ["Conversations", "central_indices", "summary_of"]

MAX_QUOTE_CHARS = 160
NEAR_DUPLICATE = 0.95
"""Cosine similarity above which two turns say the same thing (one is enough)."""


def central_indices(embeddings: np.ndarray, count: int, *, redundancy: float = 0.5) -> list[int]:
    """Indices of the ``count`` rows most representative of ``embeddings``, ascending.

    Each pick maximises similarity to the centroid minus ``redundancy`` times its highest
    similarity to a row already picked; a near duplicate of a picked row comes last.
    """
    rows = len(embeddings)
    if rows <= count:
        return list(range(rows))
    centroid = embeddings.mean(axis=0)
    relevance = embeddings @ centroid
    similarity = embeddings @ embeddings.T
    chosen: list[int] = []
    for _ in range(count):
        closest = similarity[:, chosen].max(axis=1) if chosen else np.zeros(rows)
        score = relevance - redundancy * closest
        score[closest > NEAR_DUPLICATE] -= 2.0  # below any distinct row (scores are in [-2, 1])
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return sorted(chosen)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_CHARS else text[:MAX_QUOTE_CHARS - 1].rstrip() + "…"


def summary_of(records: Sequence[MemoryRecord], embeddings: np.ndarray,
               sentences: int = 3) -> MemoryRecord:
    """One ``summary`` memory for a conversation (``records`` in order, same stream and viewer)."""
    first, last = records[0], records[-1]
    picked = [records[i] for i in central_indices(embeddings, sentences)]
    personas = {r.persona for r in records}
    who = f"with {first.viewer}" if first.viewer else "on the show"
    text = (f"Conversation {who} ({len(records)} turns): "
            + " / ".join(_quote(r.text) for r in picked))
    return MemoryRecord(
        id=f"summary:{first.stream}:{first.viewer}:{first.id}",
        text=text,
        kind="summary",
        persona=personas.pop() if len(personas) == 1 else "",
        viewer=first.viewer,
        stream=first.stream,
        speaker="",
        stamp_ns=last.stamp_ns,
        source_turn=first.id,
    )


@dataclass
class _Open:
    records: list[MemoryRecord] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    last_seen: float = 0.0


class Conversations:
    """Collects turns per (stream, viewer) and hands back summaries when they are due.

    Parameters
    ----------
    every:
        Summarise a conversation each time it reaches this many turns.
    idle_s:
        Summarise a conversation quiet for this long (``due``), if it has ``min_turns``.
    min_turns:
        Shorter quiet conversations are dropped without a summary (their turns are stored).
    sentences:
        Turns quoted in each summary.
    """

    def __init__(self, *, every: int = 12, idle_s: float = 120.0, min_turns: int = 4,
                 sentences: int = 3):
        self.every = every
        self.idle_s = idle_s
        self.min_turns = min_turns
        self.sentences = sentences
        self._open: dict[tuple[str, str], _Open] = {}

    def add(self, record: MemoryRecord, embedding: np.ndarray, now: float) -> list[MemoryRecord]:
        """Add one turn (seen at monotonic time ``now``); returns a summary when one is due."""
        conversation = self._open.setdefault((record.stream, record.viewer), _Open())
        conversation.records.append(record)
        conversation.embeddings.append(embedding)
        conversation.last_seen = now
        if len(conversation.records) < self.every:
            return []
        del self._open[(record.stream, record.viewer)]
        return [self._summarise(conversation)]

    def due(self, now: float) -> list[MemoryRecord]:
        """Summaries of the conversations quiet for ``idle_s`` (those are closed)."""
        quiet = [key for key, c in self._open.items() if now - c.last_seen >= self.idle_s]
        summaries = []
        for key in quiet:
            conversation = self._open.pop(key)
            if len(conversation.records) >= self.min_turns:
                summaries.append(self._summarise(conversation))
        return summaries

    def forget(self, viewer: str) -> None:
        """Drop the open conversations with ``viewer`` (their turns must not be summarised)."""
        for key in [key for key in self._open if key[1] == viewer]:
            del self._open[key]

    def _summarise(self, conversation: _Open) -> MemoryRecord:
        return summary_of(conversation.records, np.stack(conversation.embeddings),
                          self.sentences)
