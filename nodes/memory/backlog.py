"""What waits to be embedded, in arrival order: runs of memories and markers between them.

A chat flood arrives far faster than lines can be embedded (a few hundred a second on this
machine), so lines wait here, already journaled as received (`nodes.memory.journal.Received`),
and leave in batches: one forward pass and one store write per batch instead of per line.
A marker (a forget) is an ordering point: a batch never takes memories from both sides of it,
so everything received before a forget is written before the forget runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

from nodes.memory.records import MemoryRecord

__all__ = ["Backlog"]

Marker = TypeVar("Marker")


class Backlog(Generic[Marker]):
    """A bounded FIFO of memories and markers.

    Parameters
    ----------
    limit:
        Most memories held; `add` refuses the rest (they stay journaled as received and are
        embedded at the next start, see `MemoryBank.pending`). Markers are always taken.
    """

    def __init__(self, limit: int):
        if limit <= 0:
            raise ValueError(f"backlog limit must be positive, got {limit}")
        self.limit = limit
        self._items: deque[MemoryRecord | _Mark[Marker]] = deque()
        self._records = 0

    def __len__(self) -> int:
        """Memories waiting (markers not counted)."""
        return self._records

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(self, records: Sequence[MemoryRecord]) -> int:
        """Queue ``records`` in order; returns how many fitted under the limit."""
        room = max(self.limit - self._records, 0)
        taken = records[:room]
        self._items.extend(taken)
        self._records += len(taken)
        return len(taken)

    def mark(self, marker: Marker) -> None:
        """Queue ``marker`` after everything added so far."""
        self._items.append(_Mark(marker))

    def take(self, most: int) -> list[MemoryRecord] | Marker | None:
        """The next batch: up to ``most`` memories that came one after another, or the next
        marker when it is first; None when nothing waits."""
        if most <= 0:
            raise ValueError(f"batch size must be positive, got {most}")
        if not self._items:
            return None
        first = self._items[0]
        if isinstance(first, _Mark):
            self._items.popleft()
            return first.marker
        batch: list[MemoryRecord] = []
        while self._items and len(batch) < most and not isinstance(self._items[0], _Mark):
            batch.append(self._items.popleft())  # type: ignore[arg-type]
        self._records -= len(batch)
        return batch


class _Mark(Generic[Marker]):
    """A marker in the queue (wrapped, so a marker can never pass for a memory)."""

    __slots__ = ("marker",)

    def __init__(self, marker: Marker):
        self.marker = marker
