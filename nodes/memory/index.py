"""An exact in-memory vector index with viewer and persona filters: the default search path.

Why not Chroma's own filtered query: on this machine, at 100,000 memories, a Chroma query
with a metadata filter took 120-600 ms (p50; the cost grows with the collection, not with
the matches), far over the 20 ms budget, while an unfiltered one took 4-12 ms. Every search
here is filtered (a viewer must never see another viewer's memories), so the bank keeps the
vectors in RAM too (384 float32 each: 150 MB per 100,000 memories), loaded from the journal at
start, and scores the allowed rows exactly with one matrix-vector product. Chroma stays the
store of record (and a server in production); ``search_backend:=chroma`` queries it instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nodes.memory.records import MemoryRecord

__all__ = ["VectorIndex"]

_DENSE = 0.5
"""Above this share of allowed rows, score every row in place instead of gathering rows."""


class _Codes:
    """Small integer codes for tag values; the empty tag is always 0."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {"": 0}

    def code(self, value: str) -> int:
        return self._codes.setdefault(value, len(self._codes))

    def find(self, value: str) -> int:
        return self._codes.get(value, -1)


class VectorIndex:
    """`nodes.memory.store.MemoryStore` in RAM: exact cosine search, same filter rules."""

    def __init__(self, dimension: int, capacity: int = 1024):
        self.dimension = dimension
        self._vectors = np.zeros((capacity, dimension), dtype=np.float32)
        self._viewer = np.zeros(capacity, dtype=np.int32)
        self._persona = np.zeros(capacity, dtype=np.int32)
        self._alive = np.zeros(capacity, dtype=bool)
        self._records: list[MemoryRecord | None] = []
        self._rows: dict[str, int] = {}
        self._viewers = _Codes()
        self._personas = _Codes()

    def upsert(self, records: Sequence[MemoryRecord], embeddings: np.ndarray) -> None:
        for record, embedding in zip(records, embeddings, strict=True):
            row = self._rows.get(record.id)
            if row is None:
                row = len(self._records)
                self._grow(row + 1)
                self._records.append(record)
                self._rows[record.id] = row
            else:
                self._records[row] = record
            self._vectors[row] = embedding
            self._viewer[row] = self._viewers.code(record.viewer)
            self._persona[row] = self._personas.code(record.persona)
            self._alive[row] = True

    def search(self, embedding: np.ndarray, k: int, *, persona: str = "",
               viewer: str = "") -> list[tuple[MemoryRecord, float]]:
        used = len(self._records)
        if k <= 0 or used == 0:
            return []
        allowed = self._alive[:used].copy()
        if viewer:
            allowed &= (self._viewer[:used] == 0) | (self._viewer[:used] == self._viewers.find(
                viewer))
        if persona:
            allowed &= (self._persona[:used] == 0) | (
                self._persona[:used] == self._personas.find(persona))
        rows = np.flatnonzero(allowed)
        if rows.size == 0:
            return []
        query = np.asarray(embedding, dtype=np.float32)
        if rows.size > _DENSE * used:
            scores = self._vectors[:used] @ query
            scores = scores[rows]
        else:
            scores = self._vectors[rows] @ query
        best = np.argpartition(-scores, k - 1)[:k] if rows.size > k else np.arange(rows.size)
        best = best[np.argsort(-scores[best], kind="stable")]
        hits = []
        for i in best:
            record = self._records[rows[i]]
            assert record is not None
            hits.append((record, float(scores[i])))
        return hits

    def delete_viewer(self, viewer: str) -> int:
        if not viewer:
            raise ValueError("delete_viewer needs a viewer (platform:user_id)")
        code = self._viewers.find(viewer)
        used = len(self._records)
        rows = np.flatnonzero(self._alive[:used] & (self._viewer[:used] == code))
        for row in rows:
            record = self._records[row]
            assert record is not None
            del self._rows[record.id]
            self._records[row] = None  # the text leaves memory now, the slot stays
            self._alive[row] = False
            self._vectors[row] = 0.0
        return int(rows.size)

    def count(self) -> int:
        return len(self._rows)

    def _grow(self, needed: int) -> None:
        capacity = len(self._alive)
        if needed <= capacity:
            return
        new = max(needed, capacity * 2)
        self._vectors = np.concatenate(
            [self._vectors, np.zeros((new - capacity, self.dimension), dtype=np.float32)])
        for name in ("_viewer", "_persona", "_alive"):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.zeros(new - capacity, dtype=old.dtype)]))
