"""The in-memory exact index: same answers as a brute-force reference, same filter rules."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.memory.index import VectorIndex
from nodes.memory.records import MemoryRecord


def random_units(rng: np.random.Generator, rows: int, dimension: int = 16) -> np.ndarray:
    vectors = rng.standard_normal((rows, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def record(i: int, viewer: str = "", persona: str = "") -> MemoryRecord:
    return MemoryRecord(id=f"m{i}", text=f"memory {i}", kind="chat", viewer=viewer,
                        persona=persona)


@pytest.fixture
def filled() -> tuple[VectorIndex, list[MemoryRecord], np.ndarray]:
    rng = np.random.default_rng(7)
    records = [record(i, viewer=["", "twitch:1", "twitch:2"][i % 3],
                      persona=["", "nova", "echo"][i % 5 % 3]) for i in range(300)]
    vectors = random_units(rng, len(records))
    index = VectorIndex(16, capacity=8)  # grows several times
    index.upsert(records, vectors)
    return index, records, vectors


class TestSearch:
    # (viewer, persona) filters, checked against a brute-force reference
    @pytest.mark.parametrize(("viewer", "persona"), [
        ("", ""), ("twitch:1", ""), ("", "nova"), ("twitch:2", "echo"), ("twitch:404", ""),
    ])
    def test_matches_brute_force(self, filled: tuple[VectorIndex, list[MemoryRecord],
                                                     np.ndarray],
                                 viewer: str, persona: str) -> None:
        index, records, vectors = filled
        query = vectors[5]
        allowed = [i for i, r in enumerate(records)
                   if (not viewer or r.viewer in (viewer, ""))
                   and (not persona or r.persona in (persona, ""))]
        expected = sorted(allowed, key=lambda i: -float(vectors[i] @ query))[:7]
        hits = index.search(query, 7, viewer=viewer, persona=persona)
        assert [r.id for r, _ in hits] == [records[i].id for i in expected]
        assert [s for _, s in hits] == pytest.approx([float(vectors[i] @ query)
                                                      for i in expected], abs=1e-5)

    def test_empty_and_zero_k(self) -> None:
        index = VectorIndex(4)
        assert index.search(np.ones(4, dtype=np.float32), 3) == []
        index.upsert([record(0)], np.ones((1, 4), dtype=np.float32) / 2)
        assert index.search(np.ones(4, dtype=np.float32), 0) == []


class TestChanges:
    def test_upsert_replaces_same_id(self) -> None:
        index = VectorIndex(2)
        index.upsert([record(0, viewer="twitch:1")], np.array([[1.0, 0.0]], dtype=np.float32))
        index.upsert([record(0, viewer="twitch:2")], np.array([[0.0, 1.0]], dtype=np.float32))
        assert index.count() == 1
        [(hit, score)] = index.search(np.array([0.0, 1.0], dtype=np.float32), 5)
        assert hit.viewer == "twitch:2" and score == pytest.approx(1.0)

    def test_delete_viewer(self, filled: tuple[VectorIndex, list[MemoryRecord],
                                               np.ndarray]) -> None:
        index, _, vectors = filled
        assert index.delete_viewer("twitch:1") == 100
        assert index.count() == 200
        hits = index.search(vectors[1], 300)
        assert len(hits) == 200 and all(r.viewer != "twitch:1" for r, _ in hits)
        index.upsert([record(1000, viewer="twitch:1")], vectors[1:2])  # remembered again
        hits = index.search(vectors[1], 300, viewer="twitch:1")
        assert [r.viewer for r, _ in hits].count("twitch:1") == 1 and hits[0][0].id == "m1000"
