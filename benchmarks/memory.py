"""Memory benchmark: search latency at 1,000 / 10,000 / 100,000 memories, insert and flood rates.

- 1k: the real path. Chat lines embedded by the numpy MiniLM encoder, written through
  `MemoryBank.remember` in batches of 32 as the node's writer does (embed, fsync'ed journal,
  Chroma upsert, in-memory index): that is ``insert_per_s``. Searches are viewer-filtered,
  as the node's are, on the in-memory index (the default) and, as the baseline in the same
  run, with Chroma's own filtered query (``chroma_search_*``).
- 10k and 100k: precomputed random unit vectors (embedding 100k texts takes ~20 minutes on
  2 cores) inserted straight into the in-memory index, spread over 1,000 viewers; the queries
  are real embedded questions. ``--chroma-scale`` also builds a Chroma collection at 10k for
  its filtered query (slow to build: Chroma inserts a few hundred memories a second here).

- flood: the real memory node as a process on a real vtbus, fed ``--flood`` chat lines (5,000)
  as fast as the bus takes them; ``flood_stored_per_s`` is lines over the time from the first
  line published to the last one acknowledged on ``memory/stored`` (embedded, fsync'ed,
  searchable, in Chroma); ``flood_lines_lost`` counts lines never acknowledged (the wait
  ends after 60 s without an acknowledgement). ``flood_search_p50_ms`` times
  ``memory/search`` calls made while the flood still waits to be embedded (bus round trip
  included); ``flood_waiting_at_search`` says how many lines were unacknowledged then.
  ``flood_node_cpu_ms_per_line`` is the node process's CPU time (all threads, ``/proc``) over
  the flood per line stored: unlike the rate, it hardly depends on what else runs on the
  machine, so it compares versions measured at different loads.

``search_*`` times the store search alone; ``search_with_embedding_*`` adds embedding the
query (what a ``memory/search`` call costs in the node, minus the bus hop).

Run: ``python benchmarks/memory.py [--json] [--quick] [--chroma-scale] [--flood N]
[--flood-only]``; ``--quick`` embeds
300 real lines instead of 1,000 (the 1k point is topped up with random vectors) and runs
fewer queries (for CI; the full run takes ~60-90 s
on the shared 2-core machine).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import arguments, emit, machine, ratio  # noqa: E402
from bus.testing import BusProcess, NodeProcess, Probe  # noqa: E402
from messages.chat import ChatMessage  # noqa: E402
from messages.memory import MemoryQuery, SearchMemory  # noqa: E402
from nodes.memory.bank import MemoryBank  # noqa: E402
from nodes.memory.embeddings import MiniLmEncoder  # noqa: E402
from nodes.memory.index import VectorIndex  # noqa: E402
from nodes.memory.records import MemoryRecord  # noqa: E402

VIEWERS = 1000
SUBJECTS = ["my cat", "my dog", "my sister", "my job", "my town", "my favourite game",
            "my birthday", "my car", "my garden", "my band", "my school", "my lunch"]
VERBS = ["is called", "looks like", "reminds me of", "is all about", "started with",
         "changed because of", "is better than", "depends on"]
OBJECTS = ["pizza", "rainy days", "Minecraft", "the ocean", "jazz", "a tiny robot", "chess",
           "the night shift", "Lisbon", "strawberries", "speedruns", "old cartoons"]
QUESTIONS = ["what is my pet called?", "where do I live?", "what game do I like?",
             "when is my birthday?", "what do I do for work?", "what music do I play?",
             "what did I have for lunch?", "what car do I drive?", "tell me about my garden",
             "who is my sister?"]


def chat_lines(count: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"viewer{i % VIEWERS}: {SUBJECTS[rng.integers(len(SUBJECTS))]} "
            f"{VERBS[rng.integers(len(VERBS))]} {OBJECTS[rng.integers(len(OBJECTS))]}"
            for i in range(count)]


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    return (round(float(np.percentile(samples_ms, 50)), 3),
            round(float(np.percentile(samples_ms, 95)), 3))


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def random_units(rows: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((rows, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def scale_index(rows: int, dimension: int, rng: np.random.Generator) -> VectorIndex:
    index = VectorIndex(dimension, capacity=rows)
    step = 10_000
    for start in range(0, rows, step):
        count = min(step, rows - start)
        records = [MemoryRecord(id=f"r{start + i}", text=f"memory {start + i}", kind="chat",
                                viewer=f"twitch:{(start + i) % VIEWERS}")
                   for i in range(count)]
        index.upsert(records, random_units(count, dimension, rng))
    return index


def scale_point(label: str, index: VectorIndex, encoder: MiniLmEncoder, questions: list[str],
                viewers: list[str]) -> dict[str, Any]:
    """Search figures on one index: viewer-filtered, unfiltered, and with the query embedding."""
    embedded = encoder.encode(questions)
    out: dict[str, Any] = {}
    filtered = [timed(lambda e=e, v=v: index.search(e, 5, viewer=v))
                for e, v in zip(embedded, viewers, strict=True)]
    out[f"search_p50_ms_{label}"], out[f"search_p95_ms_{label}"] = percentiles(filtered)
    unfiltered = [timed(lambda e=e: index.search(e, 5)) for e in embedded]
    out[f"search_unfiltered_p50_ms_{label}"], out[f"search_unfiltered_p95_ms_{label}"] = \
        percentiles(unfiltered)
    combined = [timed(lambda q=q, v=v: index.search(encoder.encode([q])[0], 5, viewer=v))
                for q, v in zip(questions, viewers, strict=True)]
    out[f"search_with_embedding_p50_ms_{label}"], \
        out[f"search_with_embedding_p95_ms_{label}"] = percentiles(combined)
    out[f"index_mb_{label}"] = round(index.count() * encoder.dimension * 4 / 2**20, 1)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def flood(count: int, folder: Path, threads: int) -> dict[str, Any]:
    """The real node on a real bus: ``count`` chat lines published at once (see the docstring)."""
    lines = chat_lines(count, seed=7)
    expected = {f"chat:twitch:f{i}" for i in range(count)}
    with BusProcess() as bus, NodeProcess("nodes.memory", bus.url,
                                          params={"store_path": str(folder),
                                                  "encoder_threads": threads}) as node:
        async with Probe(bus.url) as probe:
            probe.collect("memory/stored")
            await probe.wait_for_subscribers("chat/message", timeout=300.0)
            search = probe.create_client(SearchMemory, "memory/search")
            start, cpu_start = time.perf_counter(), cpu_seconds(node.pid)
            for first in range(0, count, 250):  # bursts: the bus queues do not overflow
                for i in range(first, min(first + 250, count)):
                    user, text = lines[i].split(": ", 1)
                    probe.publish("chat/message", ChatMessage(
                        platform="twitch", user=user, user_id=user[6:], id=f"f{i}", text=text))
                await asyncio.sleep(0.05)
            search_ms = []
            for question in QUESTIONS[:5]:
                asked = time.perf_counter()
                await search.call(MemoryQuery(query=question, viewer="twitch:7"), timeout=120.0)
                search_ms.append((time.perf_counter() - asked) * 1e3)
            acked = {i for m in probe.messages("memory/stored") for i in m.ids}
            waiting_at_search = len(expected - acked)
            last_ack, seen = time.perf_counter(), len(acked)
            while not expected <= acked and time.perf_counter() - last_ack < 60.0:
                # (a version that drops lines never acknowledges them: stop when stalled)
                if node.proc is None or node.proc.poll() is not None:
                    raise RuntimeError("flood: the memory node died")
                await asyncio.sleep(0.05)
                acked = {i for m in probe.messages("memory/stored") for i in m.ids}
                if len(acked) > seen:
                    last_ack, seen = time.perf_counter(), len(acked)
            stored = len(expected & acked)
            elapsed = last_ack - start
            cpu = cpu_seconds(node.pid) - cpu_start
    return {"flood_lines": count, "flood_encoder_threads": threads,
            "flood_lines_lost": count - stored,
            "flood_stored_per_s": round(stored / elapsed, 1),
            "flood_node_cpu_ms_per_line": round(cpu * 1e3 / max(stored, 1), 2),
            "flood_search_p50_ms": percentiles(search_ms)[0],
            "flood_waiting_at_search": waiting_at_search}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--quick", action="store_true", help="300 real lines, fewer queries")
    parser.add_argument("--chroma-scale", action="store_true",
                        help="also time Chroma's filtered query at 10k (slow to build)")
    parser.add_argument("--flood", type=int, default=5000, metavar="N",
                        help="chat lines in the flood through the real node (0: none)")
    parser.add_argument("--encoder-threads", type=int, default=1, metavar="N",
                        help="the node's encoder_threads in the flood (default 1, as deployed)")
    parser.add_argument("--flood-only", action="store_true",
                        help="only the flood figures (to compare two versions quickly)")
    args = parser.parse_args(argv)
    if args.flood_only:
        with tempfile.TemporaryDirectory(prefix="vt-membench-") as folder:
            figures = asyncio.run(flood(args.flood, Path(folder), args.encoder_threads))
        return emit(figures, args.json)
    real_count = 300 if args.quick else 1000
    query_rounds = 3 if args.quick else 10
    rng = np.random.default_rng(42)
    encoder = MiniLmEncoder()
    questions = QUESTIONS * query_rounds
    figures: dict[str, Any] = {
        "machine": machine(),
        "real_memories": real_count,
        "scale_points": "10k and 100k: precomputed random unit vectors; 1k: real MiniLM "
                        f"embeddings of {real_count} chat lines"
                        + ("" if real_count >= 1000 else f" + {1000 - real_count} random"),
        "search_filter": "search_* are viewer-filtered (1,000 viewers), as the node's searches",
    }

    with tempfile.TemporaryDirectory(prefix="vt-membench-") as folder:
        bank = MemoryBank(Path(folder), encoder)
        lines = chat_lines(real_count)
        records = [MemoryRecord(id=f"c{i}", text=text, kind="chat",
                                viewer=f"twitch:{i % VIEWERS}") for i, text in enumerate(lines)]
        start = time.perf_counter()
        for first in range(0, len(records), 32):
            bank.remember(records[first:first + 32])
        figures["insert_per_s"] = round(len(records) / (time.perf_counter() - start), 1)
        if real_count < 1000:  # --quick: the 1k point is topped up with random vectors
            padding = [MemoryRecord(id=f"p{i}", text=f"memory {i}", kind="chat",
                                    viewer=f"twitch:{i % VIEWERS}")
                       for i in range(1000 - real_count)]
            vectors = random_units(len(padding), encoder.dimension, rng)
            bank.store.upsert(padding, vectors)
            assert bank.index is not None
            bank.index.upsert(padding, vectors)
        singles = [MemoryRecord(id=f"s{i}", text=f"viewer{i}: a single chat line number {i}",
                                kind="chat", viewer=f"twitch:{i}") for i in range(20)]
        single_ms = [timed(lambda r=r: bank.remember([r])) for r in singles]
        figures["insert_one_p50_ms"], figures["insert_one_p95_ms"] = percentiles(single_ms)

        embedded = encoder.encode(questions)
        embed_ms = [timed(lambda q=q: encoder.encode([q])) for q in questions]
        figures["embed_query_p50_ms"], figures["embed_query_p95_ms"] = percentiles(embed_ms)
        assert bank.index is not None
        index_1k = bank.index
        viewers = [f"twitch:{rng.integers(VIEWERS)}" for _ in questions]
        index_ms = [timed(lambda e=e, v=v: index_1k.search(e, 5, viewer=v))
                    for e, v in zip(embedded, viewers, strict=True)]
        chroma_ms = [timed(lambda e=e, v=v: bank.store.search(e, 5, viewer=v))
                     for e, v in zip(embedded, viewers, strict=True)]
        figures["search_p50_ms_1k"], figures["search_p95_ms_1k"] = percentiles(index_ms)
        figures["chroma_search_p50_ms_1k"], figures["chroma_search_p95_ms_1k"] = \
            percentiles(chroma_ms)
        figures["chroma_over_index_p95_1k"] = ratio(
            figures["chroma_search_p95_ms_1k"], max(figures["search_p95_ms_1k"], 1e-6), 1)
        full_ms = [timed(lambda q=q, v=v: bank.search(q, 5, viewer=v))
                   for q, v in zip(questions, viewers, strict=True)]
        figures["search_with_embedding_p50_ms_1k"], figures["search_with_embedding_p95_ms_1k"] \
            = percentiles(full_ms)

        if args.chroma_scale:
            from nodes.memory.store import ChromaSettings, ChromaStore

            chroma = ChromaStore(ChromaSettings(path=str(Path(folder) / "scale"),
                                                collection="scale10k"))
            for first in range(0, 10_000, 2_000):
                chunk = [MemoryRecord(id=f"r{first + i}", text=f"memory {first + i}",
                                      kind="chat", viewer=f"twitch:{(first + i) % VIEWERS}")
                         for i in range(2_000)]
                chroma.upsert(chunk, random_units(2_000, encoder.dimension, rng))
            chroma_10k = [timed(lambda e=e, v=v: chroma.search(e, 5, viewer=v))
                          for e, v in zip(embedded, viewers, strict=True)]
            figures["chroma_search_p50_ms_10k"], figures["chroma_search_p95_ms_10k"] = \
                percentiles(chroma_10k)
        bank.close()

    for label, rows in (("10k", 10_000), ("100k", 100_000)):
        figures.update(scale_point(label, scale_index(rows, encoder.dimension, rng), encoder,
                                   questions, viewers))
    figures["target_search_p95_ms_100k"] = 20.0
    figures["meets_target"] = figures["search_p95_ms_100k"] <= 20.0
    if args.flood > 0:
        with tempfile.TemporaryDirectory(prefix="vt-membench-") as folder:
            figures.update(asyncio.run(flood(args.flood, Path(folder), args.encoder_threads)))
        figures["target_flood_stored_per_s"] = 500.0

    return emit(figures, args.json)


if __name__ == "__main__":
    main()
