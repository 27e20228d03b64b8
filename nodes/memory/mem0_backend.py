"""Mem0 as the fact memory: extraction and consolidation of viewer facts through an LLM.

With an OpenAI-compatible LLM configured (vLLM in production) Mem0 runs with ``infer=True``:
it extracts facts from each turn and adds, updates or deletes them (consolidation). Without
one it runs with ``infer=False`` and keeps the lines as they are (MODELS.md: Mem0's ~8,000-token
extraction prompt is impractical on the bundled CPU model). Its facts live in their own
collection of the bank's Chroma client, embedded by our MiniLM encoder (Mem0 has no provider
for an in-process encoder, so its embedder is replaced after construction).

Mem0 reads ``MEM0_DIR`` and ``MEM0_TELEMETRY`` when it is imported, so both are set first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from nodes.memory.bank import Encoder
from nodes.memory.records import MemoryRecord

__all__ = ["Mem0Facts", "Mem0Settings"]

FORGET_SCAN = 1_000_000
"""Upper bound on the facts counted when a viewer is forgotten."""


class Mem0Settings(msgspec.Struct, frozen=True, kw_only=True):
    """How Mem0 is set up.

    Attributes
    ----------
    folder:
        Mem0's own files (history database, ``MEM0_DIR``).
    llm_url:
        Base URL of an OpenAI-compatible server (``http://gpu:8000/v1``); empty: no extraction.
    llm_model:
        The model name that server serves.
    collection:
        Chroma collection for the facts.
    """

    folder: str
    llm_url: str = ""
    llm_model: str = ""
    collection: str = "facts"


def _cosine_from_mem0(score: float) -> float:
    # Mem0's Chroma score is 1 / (1 + d), d the squared L2 distance; for unit vectors
    # d = 2 - 2 cos, so this is the cosine similarity the bank ranks by.
    return 1.0 - (1.0 / max(score, 1e-9) - 1.0) / 2.0


class Mem0Facts:
    """`nodes.memory.bank.FactMemory` on Mem0 (``add``, ``search``, ``forget``).

    Parameters
    ----------
    settings:
        See `Mem0Settings`.
    encoder:
        The sentence encoder the bank uses.
    chroma_client:
        The bank's Chroma client (the facts get their own collection in it).
    """

    def __init__(self, settings: Mem0Settings, encoder: Encoder, chroma_client: Any):
        os.environ["MEM0_TELEMETRY"] = "False"
        os.environ["MEM0_DIR"] = settings.folder
        Path(settings.folder).mkdir(parents=True, exist_ok=True)
        try:
            from mem0 import Memory
            from mem0.embeddings.base import EmbeddingBase
        except ImportError as exc:
            raise ImportError("Mem0 is missing: install the project with `uv sync` "
                              "(package mem0ai)") from exc

        class _MiniLm(EmbeddingBase):
            def embed(self, text: str, memory_action: str | None = None) -> list[float]:
                return [float(x) for x in encoder.encode([text])[0]]

        self.infer = bool(settings.llm_url)
        config: dict[str, Any] = {
            "vector_store": {"provider": "chroma", "config": {
                "collection_name": settings.collection, "client": chroma_client}},
            # a placeholder that opens no connection; replaced by _MiniLm below
            "embedder": {"provider": "openai", "config": {
                "embedding_dims": encoder.dimension, "api_key": "unused"}},
            "history_db_path": str(Path(settings.folder) / "history.db"),
        }
        if self.infer:
            config["llm"] = {"provider": "vllm", "config": {
                "model": settings.llm_model, "vllm_base_url": settings.llm_url}}
        else:  # never called with infer=False, but Mem0 builds an LLM client anyway
            config["llm"] = {"provider": "vllm", "config": {
                "model": "none", "vllm_base_url": "http://127.0.0.1:9/v1"}}
        self.memory = Memory.from_config(config)
        self.memory.embedding_model = _MiniLm()

    def add(self, record: MemoryRecord) -> None:
        """Extract facts from one turn or chat line (or keep it as it is without an LLM)."""
        self.memory.add(
            [{"role": "user" if record.kind == "chat" else "assistant", "content": record.text}],
            user_id=record.viewer or None,
            agent_id=record.persona or None,
            run_id=record.stream or None,
            metadata={"source_turn": record.source_turn, "stamp_ns": record.stamp_ns},
            infer=self.infer,
        )

    def search(self, query: str, k: int, *, persona: str = "",
               viewer: str = "") -> list[tuple[MemoryRecord, float]]:
        """Facts about ``viewer`` (Mem0 keys facts by user, so no viewer means none)."""
        if not viewer:
            return []
        found = self.memory.search(query, filters={"user_id": viewer}, top_k=k)
        hits = []
        for item in found.get("results", []):
            if persona and item.get("agent_id") not in (None, "", persona):
                continue
            metadata = item.get("metadata") or {}
            record = MemoryRecord(
                id=f"fact:{item['id']}", text=item["memory"], kind="fact",
                persona=item.get("agent_id") or "", viewer=viewer,
                stream=item.get("run_id") or "",
                stamp_ns=int(metadata.get("stamp_ns", 0)),
                source_turn=str(metadata.get("source_turn", "")),
            )
            hits.append((record, _cosine_from_mem0(float(item.get("score") or 0.0))))
        return hits

    def forget(self, viewer: str) -> int:
        existing = self.memory.get_all(filters={"user_id": viewer}, top_k=FORGET_SCAN)["results"]
        if existing:
            self.memory.delete_all(user_id=viewer)
        return len(existing)
