"""Sentences in order: per request by index, requests oldest first, cancels remembered.

The bus keeps one publisher's order, so a gap in the indices means a sentence was lost: it
is waited for only while nothing shows that it is gone (the request's final sentence, or
``max_waiting`` sentences queued behind the gap).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Push", "SentenceQueue"]

T = TypeVar("T")


@dataclass
class _Request(Generic[T]):
    next_index: int = 0
    waiting: dict[int, tuple[T, bool]] = field(default_factory=dict)
    """index -> (item, is final)"""


class Push:
    """What `SentenceQueue.push` did with an item."""

    QUEUED = "queued"
    CANCELLED = "cancelled"
    STALE = "stale"


class SentenceQueue(Generic[T]):
    """Items (sentences and whatever travels with them) keyed by request and index."""

    def __init__(self, *, max_waiting: int = 2, remember: int = 512):
        self.max_waiting = max_waiting
        self.remember = remember
        self.skipped = 0
        """Indices given up on (sentences lost before they reached the node)."""
        self._requests: OrderedDict[str, _Request[T]] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    def push(self, request_id: str, index: int, item: T, *, final: bool) -> str:
        """Queue ``item``; a `Push` value says whether it was queued or why not."""
        if request_id in self._cancelled:
            return Push.CANCELLED
        if request_id in self._finished:
            return Push.STALE
        request = self._requests.setdefault(request_id, _Request())
        if index < request.next_index or index in request.waiting:
            return Push.STALE
        request.waiting[index] = (item, final)
        return Push.QUEUED

    def pop(self) -> tuple[T, bool] | None:
        """The next item to speak and whether it is its request's final one, or None."""
        for request_id, request in self._requests.items():
            if not request.waiting:
                continue
            if request.next_index not in request.waiting and self._gap_is_lost(request):
                lowest = min(request.waiting)
                self.skipped += lowest - request.next_index
                request.next_index = lowest
            entry = request.waiting.pop(request.next_index, None)
            if entry is None:
                continue
            request.next_index += 1
            if entry[1]:
                self._forget(request_id, self._finished)
            return entry
        return None

    def cancel(self, request_id: str) -> list[str]:
        """Drop everything queued for ``request_id`` (every request when empty) and refuse
        what comes later for it; returns the requests dropped."""
        targets = list(self._requests) if not request_id else [request_id]
        for target in targets:
            self._forget(target, self._cancelled)
        return targets

    def is_cancelled(self, request_id: str) -> bool:
        return request_id in self._cancelled

    def __len__(self) -> int:
        return sum(len(r.waiting) for r in self._requests.values())

    def _gap_is_lost(self, request: _Request[T]) -> bool:
        has_final = any(final for _, final in request.waiting.values())
        return has_final or len(request.waiting) > self.max_waiting

    def _forget(self, request_id: str, into: OrderedDict[str, None]) -> None:
        self._requests.pop(request_id, None)
        into[request_id] = None
        while len(into) > self.remember:
            into.popitem(last=False)
