"""The memory bank: embeds, journals, stores, searches and forgets; no bus here.

Writes follow one path: `receive` (journal the record as it arrives, no embedding yet) ->
`embed` -> `keep`: journal append with the vector (fsync: from here the memory is
acknowledged) -> in-memory index -> store upsert -> mark the journal offset applied. Opening
the bank replays whatever the store may have missed, lists what was received but never
embedded (`pending`), finishes an interrupted forget, and refuses a missing or corrupt store
with the command that rebuilds it from the journal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

from nodes.memory.index import VectorIndex
from nodes.memory.journal import Entry, Forget, Journal, Received, Remember
from nodes.memory.records import MemoryRecord
from nodes.memory.store import ChromaSettings, ChromaStore, MemoryStore, StoreError

__all__ = ["Encoder", "FactMemory", "MemoryBank"]

log = logging.getLogger(__name__)

REPLAY_BATCH = 256
REBUILD_HINT = ("rebuild it from the journal {journal}: python -m nodes.memory "
                "-p store_path:={folder} -p rebuild:=true (the old store is kept beside it)")


class _Replayed(NamedTuple):
    entries: int
    forgot: bool


class Encoder(Protocol):
    """Text to unit-length float32 vectors (`nodes.memory.embeddings.MiniLmEncoder`)."""

    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class FactMemory(Protocol):
    """Facts kept by a memory manager beside the bank (`nodes.memory.mem0_backend`)."""

    def add(self, record: MemoryRecord) -> None: ...

    def search(self, query: str, k: int, *, persona: str = "",
               viewer: str = "") -> list[tuple[MemoryRecord, float]]: ...

    def forget(self, viewer: str) -> int: ...


class MemoryBank:
    """Long-term memory in ``folder``: ``journal.bin`` plus the embedded Chroma store ``chroma/``.

    Parameters
    ----------
    folder:
        Where the journal (and the embedded store) live.
    encoder:
        The sentence encoder.
    chroma:
        Chroma settings; by default the embedded store in ``folder/chroma``. With a server
        (``host`` set) the journal stays in ``folder``.
    rebuild:
        Move the embedded store aside and rebuild it from the journal (the recovery for a
        corrupt or missing store).
    facts:
        Makes the optional fact memory (Mem0) from the store's Chroma client; it is searched
        and forgotten together with the bank.
    search_backend:
        ``memory``: exact search in an in-process `VectorIndex` loaded from the journal (see
        `nodes.memory.index` for why); ``chroma``: Chroma's filtered query.

    Raises
    ------
    StoreError
        The store is missing while the journal holds memories, or cannot be opened; the
        message gives the rebuild command.
    """

    def __init__(self, folder: Path, encoder: Encoder, *, chroma: ChromaSettings | None = None,
                 rebuild: bool = False, facts: Callable[[Any], FactMemory] | None = None,
                 search_backend: Literal["memory", "chroma"] = "memory"):
        if search_backend not in ("memory", "chroma"):
            raise ValueError(f"search_backend must be 'memory' or 'chroma', "
                             f"got {search_backend!r}")
        self.folder = folder
        self.encoder = encoder
        self._lock = threading.Lock()
        self.journal = Journal(folder / "journal.bin")
        settings = chroma or ChromaSettings(path=str(folder / "chroma"))
        embedded = not settings.host
        store_dir = Path(settings.path)
        hint = REBUILD_HINT.format(journal=self.journal.path, folder=folder)
        if rebuild:
            if embedded and store_dir.exists():
                aside = store_dir.with_name(f"{store_dir.name}.replaced-{time.time_ns()}")
                store_dir.rename(aside)
                log.warning("rebuilding the memory store: the old one was moved to %s", aside)
            self.journal.mark_applied(0)
        elif embedded and self.journal.entries and not (store_dir / "chroma.sqlite3").exists():
            raise StoreError(
                f"memory store {store_dir} is missing but the journal {self.journal.path} holds "
                f"{self.journal.entries} entries; {hint}"
            )
        try:
            store = ChromaStore(settings)
        except StoreError as exc:
            raise StoreError(f"{exc}; {hint}") from exc.__cause__
        self.store: MemoryStore = store
        self.facts: FactMemory | None = facts(store.client) if facts is not None else None
        self._behind = False
        self.pending: list[MemoryRecord] = []
        """Received before the last stop but never embedded: the node embeds them first."""
        self._recover(full=rebuild)
        self.index = self._load_index() if search_backend == "memory" else None

    # ------------------------------------------------------------------ writing

    def receive(self, records: Sequence[MemoryRecord]) -> None:
        """Journal ``records`` as received (one write, no fsync, no embedding: microseconds).

        From here a SIGKILL of the node loses none of them: the next start lists them in
        `pending`. `sync_received` makes them survive a power loss too.
        """
        self.journal.append([Received(r) for r in records], sync=False)

    def sync_received(self) -> bool:
        """fsync what `receive` wrote; False when there was nothing new."""
        return self.journal.sync()

    def embed(self, records: Sequence[MemoryRecord]) -> np.ndarray:
        """The embeddings of ``records`` (no lock: a search may embed its query meanwhile)."""
        return self.encoder.encode([r.text for r in records])

    def keep(self, records: Sequence[MemoryRecord], embeddings: np.ndarray) -> None:
        """Make embedded ``records`` durable and searchable.

        When this returns, the records survive a crash (they are in the fsync'ed journal with
        their vectors). A store failure after the journal append raises `StoreError`; the
        records are still searchable (in-memory index) and are replayed into the store by the
        next write or the next start.
        """
        entries: list[Entry] = [Remember(r, e.tobytes()) for r, e in zip(records, embeddings,
                                                                         strict=True)]
        with self._lock:
            self.journal.append(entries)
            if self.index is not None:  # the index mirrors the journal, even if the store fails
                self.index.upsert(records, embeddings)
            self._to_store(lambda: self.store.upsert(records, embeddings))

    def remember(self, records: Sequence[MemoryRecord]) -> np.ndarray:
        """`embed` then `keep` ``records``; returns their embeddings."""
        embeddings = self.embed(records)
        self.keep(records, embeddings)
        return embeddings

    def forget(self, viewer: str) -> int:
        """Remove every memory of ``viewer`` from the store, the facts and the journal, for good.

        Returns how many memories were removed.
        """
        if not viewer:
            raise ValueError("forget needs a viewer (platform:user_id)")
        with self._lock:
            self.journal.append([Forget(viewer)])  # from here the forget will be finished
            in_index = self.index.delete_viewer(viewer) if self.index is not None else 0
            removed: list[int] = []
            self._to_store(lambda: removed.append(self.store.delete_viewer(viewer)))
            total = (removed[0] if removed else in_index)
            if self.facts is not None:
                total += self.facts.forget(viewer)
            self._compact()
            self.journal.mark_applied(self.journal.size)
        log.info("forgot viewer %s: %d memories removed", viewer, total)
        return total

    def _to_store(self, change: Callable[[], object]) -> None:
        """Apply the journal's newest entry to the store: ``change`` when the store is level
        with the journal, else a replay from the applied offset (which includes it)."""
        try:
            if self._behind:
                if self._replay(self.journal.applied()).forgot:
                    self._compact()
                self._behind = False
            else:
                change()
        except Exception as exc:
            self._behind = True
            raise StoreError(f"memory store write failed ({exc}); the change is safe in "
                             f"{self.journal.path} and will be replayed") from exc
        self.journal.mark_applied(self.journal.size)

    # ------------------------------------------------------------------ reading

    def search(self, query: str, k: int, *, persona: str = "",
               viewer: str = "") -> list[tuple[MemoryRecord, float]]:
        """The ``k`` memories most relevant to ``query``, best first (cosine similarity)."""
        embedding = self.encoder.encode([query])[0]
        searched = self.index if self.index is not None else self.store
        hits = searched.search(embedding, k, persona=persona, viewer=viewer)
        if self.facts is not None:
            hits += self.facts.search(query, k, persona=persona, viewer=viewer)
            hits.sort(key=lambda hit: hit[1], reverse=True)
        return hits[:k]

    def count(self) -> int:
        return self.store.count()

    def close(self) -> None:
        self.journal.close()

    # ------------------------------------------------------------------ recovery

    def _recover(self, *, full: bool) -> None:
        """Bring the store level with the journal (see the module docstring)."""
        ids: set[str] = set()
        forgotten: set[str] = set()
        received: dict[str, MemoryRecord] = {}
        for _, entry in self.journal.read():
            if isinstance(entry, Received):
                received[entry.record.id] = entry.record
            elif isinstance(entry, Remember):
                ids.add(entry.record.id)
                received.pop(entry.record.id, None)
            else:
                forgotten.add(entry.viewer)
        # everything received before a forget was embedded before it (one queue, in order),
        # so whatever still waits was received after it and is kept
        self.pending = list(received.values())
        start = 0 if full else self.journal.applied()
        stored = self.store.count()
        if not full and not forgotten and stored != len(ids):
            log.warning("memory store %s holds %d memories, the journal %d: replaying the whole "
                        "journal", self.folder, stored, len(ids))
            start = 0
        replayed = self._replay(start).entries if start < self.journal.size else 0
        if replayed:
            log.info("replayed %d journal entries into the memory store", replayed)
        if self.pending:
            log.info("%d memories were received but not yet embedded when the node stopped: "
                     "embedding them first", len(self.pending))
        if forgotten:  # a forget was interrupted: finish it (deleting twice is harmless)
            for viewer in forgotten:
                self.store.delete_viewer(viewer)
                if self.facts is not None:
                    self.facts.forget(viewer)
            self._compact()
        self.journal.mark_applied(self.journal.size)

    def _load_index(self) -> VectorIndex:
        index = VectorIndex(self.encoder.dimension)
        batch: list[Remember] = []

        def flush() -> None:
            vectors = np.stack([np.frombuffer(e.embedding, dtype=np.float32) for e in batch])
            index.upsert([e.record for e in batch], vectors)
            batch.clear()

        for _, entry in self.journal.read():
            if isinstance(entry, Remember):  # forgets were compacted away by _recover
                batch.append(entry)
                if len(batch) >= REPLAY_BATCH:
                    flush()
        if batch:
            flush()
        return index

    def _replay(self, start: int) -> _Replayed:
        batch: list[Remember] = []
        count = 0
        forgot = False

        def flush() -> None:
            if batch:
                vectors = np.stack([np.frombuffer(e.embedding, dtype=np.float32) for e in batch])
                self.store.upsert([e.record for e in batch], vectors)
                batch.clear()

        for _, entry in self.journal.read(start):
            if isinstance(entry, Received):
                continue
            count += 1
            if isinstance(entry, Remember):
                batch.append(entry)
                if len(batch) >= REPLAY_BATCH:
                    flush()
            else:
                flush()
                forgot = True
                self.store.delete_viewer(entry.viewer)
                if self.facts is not None:
                    self.facts.forget(entry.viewer)
        flush()
        return _Replayed(count, forgot)

    def _compact(self) -> None:
        """Rewrite the journal without forgotten viewers' entries, the forget marks and the
        receipts of memories embedded since (their `Remember` holds the record)."""
        forgotten_at: dict[str, int] = {}
        embedded: set[str] = set()
        for offset, entry in self.journal.read():
            if isinstance(entry, Forget):
                forgotten_at[entry.viewer] = offset
            elif isinstance(entry, Remember):
                embedded.add(entry.record.id)

        def keep(offset: int, entry: Entry) -> bool:
            if isinstance(entry, Forget):
                return False
            if isinstance(entry, Received):
                # still waiting: received after the forget (see _recover), so kept
                return entry.record.id not in embedded
            return offset > forgotten_at.get(entry.record.viewer, -1)

        dropped = self.journal.rewrite(keep)
        log.info("journal %s rewritten: %d entries removed (forgotten viewers' memories, forget "
                 "marks, receipts of embedded memories)", self.journal.path, dropped)
