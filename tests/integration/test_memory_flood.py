"""A 5,000-line chat flood into the real memory node on a real bus, a SIGKILL while most of it
still waits to be embedded, a restart: every line the node had received is stored exactly once,
and a search asked during the backlog is answered before the backlog is through."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.testing import NodeProcess, Probe
from messages.chat import ChatMessage
from messages.memory import MemoryQuery, SearchMemory
from nodes.memory.store import ChromaSettings, ChromaStore

FLOOD = 5000
BURST = 250  # lines per publish burst, a pause between bursts keeps the bus queues from dropping


async def node_status(probe: Probe, node: NodeProcess) -> tuple[int, dict[str, int]]:
    """(chat/message lines the process has taken in, its counters), from its heartbeat."""
    graph = await probe.graph(timeout=1.0)
    for status in graph.nodes:
        if status.info.pid == node.pid:
            stats = status.info.sub_stats.get("chat/message")
            return (stats.count if stats else 0), status.info.counters
    return 0, {}


def flood_line(i: int) -> ChatMessage:
    return ChatMessage(platform="twitch", user=f"viewer{i % 300}", user_id=str(i % 300),
                       id=f"m{i}", text=f"line {i}: my pet number {i % 97} likes topic {i % 13}")


@pytest.mark.slow
@pytest.mark.timeout(900)  # 5,000 embeddings on a shared 2-core machine; the waits have deadlines
async def test_flood_sigkill_restart_stores_every_received_line_once(
        bus_url: str, start_node: Callable[..., NodeProcess], memory_store: Path) -> None:
    expected = {f"chat:twitch:m{i}" for i in range(FLOOD)}
    async with Probe(bus_url) as probe:
        probe.collect("memory/stored")
        node = start_node("nodes.memory", params={"store_path": str(memory_store)})
        await probe.wait_for_process(node, ["chat/message"], timeout=120)
        for first in range(0, FLOOD, BURST):
            for i in range(first, first + BURST):
                probe.publish("chat/message", flood_line(i))
            await asyncio.sleep(0.05)

        # every line reached the node's callback (sync callbacks: counted once handled)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120.0
        received = 0
        while received < FLOOD:
            assert loop.time() < deadline, f"the node took in only {received} of {FLOOD} lines"
            received, counters = await node_status(probe, node)
            await asyncio.sleep(0.2)

        # a search during the backlog is answered while lines still wait to be stored
        search = probe.create_client(SearchMemory, "memory/search")
        await search.call(MemoryQuery(query="which topic does my pet like?",
                                      viewer="twitch:7"), timeout=60.0)
        acked_at_answer = {i for m in probe.messages("memory/stored") for i in m.ids}
        assert len(acked_at_answer) < FLOOD, (
            "the whole flood was stored before the kill: this run tests nothing")

        node.kill()  # SIGKILL with most of the flood received but not yet embedded
        print(f"killed with {len(acked_at_answer)} of {FLOOD} stored, counters {counters}")

        node = start_node("nodes.memory", params={"store_path": str(memory_store)})
        await probe.wait_for_process(node, ["chat/message"], timeout=120)
        deadline = loop.time() + 600.0
        acked: set[str] = set()
        while not expected <= acked:
            assert loop.time() < deadline, (
                f"{len(expected - acked)} received lines never stored after the restart, "
                f"e.g. {sorted(expected - acked)[:5]}")
            await asyncio.sleep(0.5)
            acked = {i for m in probe.messages("memory/stored") for i in m.ids}
        assert node.stop(grace_s=60.0) == 0  # a clean stop (a loaded machine makes it slow)

    chroma = ChromaStore(ChromaSettings(path=str(memory_store / "chroma")))
    # ids are stable: a line stored before the kill and replayed after it was replaced, not
    # added again (the rest of the store is the node's conversation summaries)
    lines = chroma.collection.get(where={"kind": "chat"}, include=[])
    assert len(lines["ids"]) == FLOOD
    assert set(lines["ids"]) == expected
