"""The memory bank on a real embedded Chroma store and the real encoder: relevance, viewer
isolation, forgetting for good, recovery from crashes and from corrupt or missing stores."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api.client import SharedSystemClient

from nodes.memory.bank import MemoryBank
from nodes.memory.embeddings import MiniLmEncoder
from nodes.memory.journal import Forget, Remember
from nodes.memory.records import MemoryRecord
from nodes.memory.store import StoreError

ALICE, BOB = "twitch:1001", "youtube:UC2002"

FACTS = [
    MemoryRecord(id="a1", text="alice: my cat is called Biscuit", kind="chat", viewer=ALICE),
    MemoryRecord(id="a2", text="alice: I live in Lisbon and work as a nurse", kind="chat",
                 viewer=ALICE),
    MemoryRecord(id="a3", text="alice: my favourite game is Stardew Valley", kind="chat",
                 viewer=ALICE),
    MemoryRecord(id="b1", text="bob: my dog Rex loves the snow", kind="chat", viewer=BOB),
    MemoryRecord(id="b2", text="bob: I'm a student in Toronto studying chemistry", kind="chat",
                 viewer=BOB),
    MemoryRecord(id="b3", text="bob: I play Minecraft every weekend", kind="chat", viewer=BOB),
    MemoryRecord(id="n1", text="Nova: I promised to sing a song at the end of the stream",
                 kind="turn", persona="nova"),
    MemoryRecord(id="e1", text="Echo: I believe pineapple belongs on pizza", kind="turn",
                 persona="echo"),
]


@pytest.fixture(scope="module")
def encoder() -> MiniLmEncoder:
    return MiniLmEncoder()


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "memory"
    SharedSystemClient.clear_system_cache()  # each test's store is its own


# every search test runs on both search paths: the in-memory index and Chroma's query
@pytest.fixture(params=["memory", "chroma"])
def bank(folder: Path, encoder: MiniLmEncoder, request: pytest.FixtureRequest,
         ) -> Iterator[MemoryBank]:
    bank = MemoryBank(folder, encoder, search_backend=request.param)
    bank.remember(FACTS)
    yield bank
    bank.close()


def top_ids(bank: MemoryBank, query: str, viewer: str = "", persona: str = "",
            k: int = 3) -> list[str]:
    return [record.id for record, _ in bank.search(query, k, viewer=viewer, persona=persona)]


class TestRelevance:
    # (paraphrased question, viewer asking, the memory that answers it)
    @pytest.mark.parametrize(("question", "viewer", "expected"), [
        ("what's the name of my pet?", ALICE, "a1"),
        ("which city am I from?", ALICE, "a2"),
        ("what's my job?", ALICE, "a2"),
        ("what video game do I enjoy?", ALICE, "a3"),
        ("tell me about my dog", BOB, "b1"),
        ("what do I study at university?", BOB, "b2"),
        ("which game do I play on saturdays?", BOB, "b3"),
    ])
    def test_fact_found_from_a_paraphrase(self, bank: MemoryBank, question: str, viewer: str,
                                          expected: str) -> None:
        assert top_ids(bank, question, viewer, k=1) == [expected]

    def test_scores_are_cosine_and_sorted(self, bank: MemoryBank) -> None:
        hits = bank.search("what's the name of my pet?", 5, viewer=ALICE)
        scores = [score for _, score in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(-1.0 <= s <= 1.0 for s in scores)

    def test_records_keep_their_tags(self, bank: MemoryBank) -> None:
        record, _ = bank.search("pineapple pizza opinion", 1)[0]
        assert record == FACTS[-1]


class TestIsolation:
    # (question, viewer asking): another viewer's memories never come back
    @pytest.mark.parametrize(("question", "viewer", "other"), [
        ("what's the name of my dog?", ALICE, BOB),  # Bob's dog, asked by Alice
        ("what's my cat called?", BOB, ALICE),  # Alice's cat, asked by Bob
        ("where do I live?", BOB, ALICE),
    ])
    def test_other_viewers_never_returned(self, bank: MemoryBank, question: str, viewer: str,
                                          other: str) -> None:
        hits = bank.search(question, 50, viewer=viewer)
        assert hits, "the viewer's own and the shared memories are still found"
        assert all(record.viewer in (viewer, "") for record, _ in hits)
        assert not any(record.viewer == other for record, _ in hits)

    def test_persona_filter_keeps_own_and_shared(self, bank: MemoryBank) -> None:
        hits = bank.search("what did you promise or believe?", 50, persona="nova")
        personas = {record.persona for record, _ in hits}
        assert "nova" in personas and "echo" not in personas

    def test_no_viewer_means_no_limit(self, bank: MemoryBank) -> None:
        assert len(bank.search("anything", 50)) == len(FACTS)


class TestForget:
    def test_forgotten_for_good(self, bank: MemoryBank, folder: Path,
                                encoder: MiniLmEncoder) -> None:
        assert bank.forget(ALICE) == 3
        assert not any(r.viewer == ALICE for r, _ in bank.search("cat Lisbon game", 50))
        journal = (folder / "journal.bin").read_bytes()
        assert b"Biscuit" not in journal and b"Lisbon" not in journal
        assert b"Rex" in journal
        bank.close()
        reopened = MemoryBank(folder, encoder)
        assert reopened.count() == len(FACTS) - 3
        assert top_ids(reopened, "what's the name of my pet?", ALICE, k=1) != ["a1"]
        reopened.close()

    def test_forgotten_viewer_can_be_remembered_again(self, bank: MemoryBank) -> None:
        bank.forget(ALICE)
        bank.remember([MemoryRecord(id="a9", text="alice: I'm back, call me Al", kind="chat",
                                    viewer=ALICE)])
        assert top_ids(bank, "what should I call you", ALICE, k=1) == ["a9"]

    def test_forget_interrupted_by_a_crash_finishes_on_start(
            self, bank: MemoryBank, folder: Path, encoder: MiniLmEncoder) -> None:
        bank.journal.append([Forget(BOB)])  # the crash came right after the journal append
        bank.close()
        reopened = MemoryBank(folder, encoder)
        assert not any(r.viewer == BOB for r, _ in reopened.search("dog", 50))
        assert b"Rex" not in (folder / "journal.bin").read_bytes()
        reopened.close()

    def test_needs_a_viewer(self, bank: MemoryBank) -> None:
        with pytest.raises(ValueError, match="forget needs a viewer"):
            bank.forget("")


class TestRecovery:
    def test_store_behind_the_journal_is_replayed(self, bank: MemoryBank, folder: Path,
                                                  encoder: MiniLmEncoder) -> None:
        # a crash between the journal fsync and the store write: the store misses a record
        extra = MemoryRecord(id="late", text="bob: I just adopted a parrot", kind="chat",
                             viewer=BOB)
        embedding = encoder.encode([extra.text])
        bank.journal.append([Remember(extra, embedding[0].tobytes())])
        bank.close()
        reopened = MemoryBank(folder, encoder)
        assert reopened.count() == len(FACTS) + 1
        assert top_ids(reopened, "what bird do I have?", BOB, k=1) == ["late"]
        reopened.close()

    def test_corrupt_store_names_path_and_rebuild(self, bank: MemoryBank, folder: Path,
                                                  encoder: MiniLmEncoder) -> None:
        bank.close()
        SharedSystemClient.clear_system_cache()
        sqlite = folder / "chroma" / "chroma.sqlite3"
        with open(sqlite, "r+b") as f:
            f.write(b"garbage!" * 512)
        with pytest.raises(StoreError, match=(
                rf"memory store {folder / 'chroma'} cannot be opened, it looks corrupt.*"
                rf"rebuild it from the journal {folder / 'journal.bin'}: "
                rf"python -m nodes.memory -p store_path:={folder} -p rebuild:=true")):
            MemoryBank(folder, encoder)
        rebuilt = MemoryBank(folder, encoder, rebuild=True)
        assert rebuilt.count() == len(FACTS)
        assert top_ids(rebuilt, "what's the name of my pet?", ALICE, k=1) == ["a1"]
        assert list(folder.glob("chroma.replaced-*")), "the damaged store is kept"
        rebuilt.close()

    def test_missing_store_names_path_and_rebuild(self, bank: MemoryBank, folder: Path,
                                                  encoder: MiniLmEncoder) -> None:
        bank.close()
        SharedSystemClient.clear_system_cache()
        shutil.rmtree(folder / "chroma")
        with pytest.raises(StoreError, match=(
                rf"memory store {folder / 'chroma'} is missing but the journal "
                rf"{folder / 'journal.bin'} holds {len(FACTS)} entries.*rebuild:=true")):
            MemoryBank(folder, encoder)
        rebuilt = MemoryBank(folder, encoder, rebuild=True)
        assert rebuilt.count() == len(FACTS)
        rebuilt.close()

    def test_unknown_search_backend_refused(self, folder: Path,
                                            encoder: MiniLmEncoder) -> None:
        with pytest.raises(ValueError, match="search_backend must be 'memory' or 'chroma'"):
            MemoryBank(folder, encoder, search_backend="faiss")  # type: ignore[arg-type]

    def test_fresh_folder_starts_empty(self, folder: Path, encoder: MiniLmEncoder) -> None:
        bank = MemoryBank(folder, encoder)
        assert bank.count() == 0
        assert bank.search("anything", 5) == []
        bank.close()


class TestReceivedNotEmbedded:
    LINES = [MemoryRecord(id=f"r{i}", text=f"alice: line {i} about my garden", kind="chat",
                          viewer=ALICE) for i in range(3)]

    def test_pending_after_a_crash_in_arrival_order(self, bank: MemoryBank, folder: Path,
                                                    encoder: MiniLmEncoder) -> None:
        bank.receive(self.LINES)
        bank.keep(self.LINES[:1], encoder.encode([self.LINES[0].text]))
        bank.journal._file.close()  # a SIGKILL: no close(), no fsync (the OS has the bytes)
        reopened = MemoryBank(folder, encoder)
        assert [r.id for r in reopened.pending] == ["r1", "r2"]
        assert reopened.count() == len(FACTS) + 1
        reopened.close()

    def test_stored_but_not_marked_is_not_stored_twice(
            self, bank: MemoryBank, folder: Path, encoder: MiniLmEncoder) -> None:
        # the store took the lines but the node died before their journal entries said so
        vectors = encoder.encode([r.text for r in self.LINES])
        bank.receive(self.LINES)
        bank.store.upsert(self.LINES, vectors)
        bank.close()
        reopened = MemoryBank(folder, encoder)
        assert [r.id for r in reopened.pending] == ["r0", "r1", "r2"]
        reopened.remember(reopened.pending)  # what the node does first
        assert reopened.count() == len(FACTS) + 3  # replaced by id, not added again
        reopened.close()
        again = MemoryBank(folder, encoder)
        assert again.pending == [] and again.count() == len(FACTS) + 3
        again.close()

    def test_received_after_a_forget_is_kept(self, bank: MemoryBank, folder: Path,
                                             encoder: MiniLmEncoder) -> None:
        bank.forget(ALICE)
        bank.receive(self.LINES[:1])  # alice speaks again, the node dies before embedding it
        bank.close()
        reopened = MemoryBank(folder, encoder)
        assert [r.id for r in reopened.pending] == ["r0"]
        reopened.close()

    def test_forget_removes_receipts_too(self, bank: MemoryBank, folder: Path) -> None:
        bank.receive(self.LINES)
        bank.remember(self.LINES)
        bank.forget(ALICE)
        assert b"garden" not in (folder / "journal.bin").read_bytes()
        assert not any(r.viewer == ALICE for r, _ in bank.search("garden", 50))
