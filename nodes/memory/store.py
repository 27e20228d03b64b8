"""The vector store behind a small Protocol, and its ChromaDB implementation.

Chroma runs embedded (``chromadb.PersistentClient`` on a folder) by default, or as a server
(``chromadb.HttpClient``) when a host is configured. Embeddings are always passed in: the
collection has no embedding function, because Chroma's default one downloads a model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np

from bus.errors import VtError
from nodes.memory.records import MemoryRecord

__all__ = ["ChromaSettings", "ChromaStore", "MemoryStore", "StoreError", "viewer_filter"]

log = logging.getLogger(__name__)


class StoreError(VtError):
    """The memory store is missing, corrupt or unreachable; the message names the recovery."""


class MemoryStore(Protocol):
    """Where memories and their embeddings live, searchable by similarity and tags."""

    def upsert(self, records: Sequence[MemoryRecord], embeddings: np.ndarray) -> None:
        """Add or replace ``records`` (same id: replaced), row i of ``embeddings`` for record i."""

    def search(
        self, embedding: np.ndarray, k: int, *, persona: str = "", viewer: str = ""
    ) -> list[tuple[MemoryRecord, float]]:
        """The ``k`` memories most similar to ``embedding``, best first, with cosine similarity.

        A non-empty ``viewer`` keeps that viewer's memories and those about no viewer; a
        non-empty ``persona`` keeps that persona's and the shared ones.
        """

    def delete_viewer(self, viewer: str) -> int:
        """Remove every memory about ``viewer``; returns how many were removed."""

    def count(self) -> int:
        """How many memories the store holds."""


class ChromaSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the Chroma collection lives.

    Attributes
    ----------
    path:
        Folder of the embedded persistent store (used when ``host`` is empty).
    host, port:
        A Chroma server (``chroma run``); ``host`` empty means embedded.
    collection:
        Collection name.
    """

    path: str = ""
    host: str = ""
    port: int = 8000
    collection: str = "memories"


def viewer_filter(persona: str, viewer: str) -> dict[str, Any] | None:
    """The Chroma ``where`` clause for a search limited to a persona and/or a viewer."""
    clauses: list[dict[str, Any]] = []
    if viewer:
        clauses.append({"viewer": {"$in": [viewer, ""]}})
    if persona:
        clauses.append({"persona": {"$in": [persona, ""]}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


_METADATA_FIELDS = ("kind", "persona", "viewer", "stream", "speaker", "stamp_ns",
                    "source_turn", "cut_off")


class ChromaStore:
    """`MemoryStore` on a ChromaDB collection with cosine distance.

    Raises
    ------
    StoreError
        The embedded store cannot be opened (corrupt files), or the server does not answer.
    """

    def __init__(self, settings: ChromaSettings):
        import chromadb
        from chromadb.config import Settings

        self.settings = settings
        chroma_settings = Settings(anonymized_telemetry=False)
        where = (f"Chroma server {settings.host}:{settings.port}" if settings.host
                 else f"memory store {settings.path}")
        try:
            if settings.host:
                self.client: Any = chromadb.HttpClient(host=settings.host, port=settings.port,
                                                       settings=chroma_settings)
            else:
                Path(settings.path).mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=settings.path,
                                                        settings=chroma_settings)
            self.collection = self.client.get_or_create_collection(
                settings.collection, embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
            self.collection.count()
        except Exception as exc:
            # chroma caches a client per folder, the failed one too: drop it so that a later
            # open (after a rebuild) starts afresh
            from chromadb.api.client import SharedSystemClient

            SharedSystemClient.clear_system_cache()
            if settings.host:
                raise StoreError(f"{where} is unreachable or refused us ({exc}); start it "
                                 "(`chroma run --path FOLDER`) or clear the chroma_host "
                                 "parameter to use the embedded store") from exc
            raise StoreError(f"{where} cannot be opened, it looks corrupt "
                             f"({type(exc).__name__}: {exc})") from exc

    def upsert(self, records: Sequence[MemoryRecord], embeddings: np.ndarray) -> None:
        if not records:
            return
        self.collection.upsert(
            ids=[r.id for r in records],
            embeddings=np.asarray(embeddings, dtype=np.float32),
            documents=[r.text for r in records],
            metadatas=[{f: getattr(r, f) for f in _METADATA_FIELDS} for r in records],
        )

    def search(
        self, embedding: np.ndarray, k: int, *, persona: str = "", viewer: str = ""
    ) -> list[tuple[MemoryRecord, float]]:
        if k <= 0:
            return []
        result = self.collection.query(
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=k,
            where=viewer_filter(persona, viewer),
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for id_, text, meta, distance in zip(result["ids"][0], result["documents"][0],
                                             result["metadatas"][0], result["distances"][0],
                                             strict=True):
            record = msgspec.convert({"id": id_, "text": text, **meta}, MemoryRecord)
            hits.append((record, 1.0 - float(distance)))
        return hits

    def delete_viewer(self, viewer: str) -> int:
        if not viewer:
            raise ValueError("delete_viewer needs a viewer (platform:user_id)")
        result = self.collection.delete(where={"viewer": viewer})
        return int((result or {}).get("deleted", 0))

    def count(self) -> int:
        return int(self.collection.count())
