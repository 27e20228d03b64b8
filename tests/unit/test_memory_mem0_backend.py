"""Mem0 as the fact memory, offline (infer=False: no LLM here), with our encoder and Chroma."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api.client import SharedSystemClient

from nodes.memory.bank import MemoryBank
from nodes.memory.embeddings import MiniLmEncoder
from nodes.memory.records import MemoryRecord

ALICE, BOB = "twitch:1", "twitch:2"


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[MemoryBank]:
    from nodes.memory.mem0_backend import Mem0Facts, Mem0Settings

    encoder = MiniLmEncoder()
    settings = Mem0Settings(folder=str(tmp_path / "mem0"))
    bank = MemoryBank(tmp_path / "memory", encoder,
                      facts=lambda client: Mem0Facts(settings, encoder, client))
    yield bank
    bank.close()
    SharedSystemClient.clear_system_cache()


@pytest.mark.slow
class TestMem0Facts:
    def test_add_search_forget(self, bank: MemoryBank, tmp_path: Path) -> None:
        facts = bank.facts
        assert facts is not None
        facts.add(MemoryRecord(id="c1", text="alice: my cat is called Biscuit", kind="chat",
                               viewer=ALICE, persona="", stream="s1", source_turn="c1",
                               stamp_ns=5))
        facts.add(MemoryRecord(id="c2", text="bob: my cat is called Tom", kind="chat",
                               viewer=BOB))
        [(fact, score)] = facts.search("what's my cat's name?", 5, viewer=ALICE)
        assert (fact.kind, fact.text, fact.viewer, fact.stream, fact.source_turn,
                fact.stamp_ns) == ("fact", "alice: my cat is called Biscuit", ALICE, "s1",
                                   "c1", 5)
        assert 0.3 < score <= 1.0  # a cosine similarity, like the bank's own scores
        assert facts.search("cat", 5) == []  # facts are per viewer: none without one
        assert (tmp_path / "mem0" / "history.db").exists()
        # the bank's search merges facts with its own memories; forgetting removes both
        bank.remember([MemoryRecord(id="t1", text="Nova: Biscuit is a lovely name",
                                    kind="turn", viewer=ALICE)])
        kinds = {r.kind for r, _ in bank.search("cat name", 10, viewer=ALICE)}
        assert kinds == {"fact", "turn"}
        assert bank.forget(ALICE) == 2
        assert bank.search("cat name", 10, viewer=ALICE) == []
        assert [r.viewer for r, _ in facts.search("cat", 5, viewer=BOB)] == [BOB]
