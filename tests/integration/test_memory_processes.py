"""The memory node as a real process on a real bus: search and forget over the bus,
durability under SIGKILL at random points, and a clear refusal of a corrupt store."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.testing import NodeProcess, Probe
from messages.chat import ChatMessage
from messages.memory import (
    ConversationTurn,
    ForgetViewer,
    ForgetViewerRequest,
    MemoryQuery,
    SearchMemory,
)
from nodes.memory.bank import MemoryBank
from nodes.memory.embeddings import MiniLmEncoder


def acked_ids(probe: Probe) -> set[str]:
    return {i for msg in probe.messages("memory/stored") for i in msg.ids}


@pytest.mark.slow
class TestOverTheBus:
    async def test_search_and_forget(self, bus_url: str, start_node: Callable[..., NodeProcess],
                                     memory_store: Path) -> None:
        node = start_node("nodes.memory", params={"store_path": str(memory_store)})
        async with Probe(bus_url) as probe:
            probe.collect("memory/stored")
            await probe.wait_for_process(node, ["memory/turn", "chat/message"])
            probe.publish("chat/message", ChatMessage(
                platform="twitch", user="alice", user_id="1", id="a", text="my cat is Biscuit"))
            probe.publish("chat/message", ChatMessage(
                platform="youtube", user="bob", user_id="UC2", id="b", text="my cat is Tom"))
            await probe.wait_for("memory/stored", 1, timeout=20.0,
                                 where=lambda m: "chat:youtube:b" in m.ids)
            await probe.wait_for("memory/stored", 1, timeout=20.0,
                                 where=lambda m: "chat:twitch:a" in m.ids)
            search = probe.create_client(SearchMemory, "memory/search")
            result = await search.call(MemoryQuery(query="what's my cat called?",
                                                   viewer="twitch:1"), timeout=10.0)
            assert [h.text for h in result.hits] == ["alice: my cat is Biscuit"]
            forget = probe.create_client(ForgetViewer, "memory/forget")
            response = await forget.call(ForgetViewerRequest(viewer="twitch:1"), timeout=10.0)
            assert response.removed == 1
            result = await search.call(MemoryQuery(query="cat", viewer="twitch:1"),
                                       timeout=10.0)
            assert result.hits == []


@pytest.mark.slow
class TestDurability:
    async def test_sigkill_loses_no_acknowledged_turn(
            self, bus_url: str, start_node: Callable[..., NodeProcess], memory_store: Path) -> None:
        seed = int(os.environ.get("MEMORY_KILL_SEED", time.time_ns() % 2**32))
        print(f"SIGKILL test seed: {seed} (rerun with MEMORY_KILL_SEED={seed})")
        rng = random.Random(seed)
        sent = 0
        async with Probe(bus_url) as probe:
            probe.collect("memory/stored")
            for round_ in range(3):
                node = start_node("nodes.memory", params={"store_path": str(memory_store)})
                await probe.wait_for_process(node, ["memory/turn", "chat/message"])
                acked_before = len(acked_ids(probe))
                loop = asyncio.get_running_loop()
                kill_at = loop.time() + rng.uniform(1.0, 3.0)
                while loop.time() < kill_at:
                    probe.publish("memory/turn", ConversationTurn(
                        turn_id=f"r{round_}-t{sent}", speaker="Nova", persona="nova",
                        text=f"turn {sent}: viewer {sent % 7} likes topic {sent % 13}",
                        viewer=f"twitch:{sent % 7}", stream="s1"))
                    sent += 1
                    await asyncio.sleep(rng.uniform(0.0, 0.02))
                node.kill()  # SIGKILL, wherever the writer happens to be
                assert len(acked_ids(probe)) > acked_before, f"round {round_} acked nothing"
            acked = acked_ids(probe)
            # restart once more: the store opens and the node serves the acknowledged turns
            node = start_node("nodes.memory", params={"store_path": str(memory_store)})
            await probe.wait_for_process(node, ["memory/turn", "chat/message"])
            search = probe.create_client(SearchMemory, "memory/search")
            result = await search.call(MemoryQuery(query="which topic does viewer 3 like?",
                                                   viewer="twitch:3", k=20), timeout=10.0)
            assert result.hits and all(h.viewer == "twitch:3" for h in result.hits)
            assert node.stop() == 0
        bank = MemoryBank(memory_store, MiniLmEncoder())
        found = bank.store.collection.get(ids=sorted(acked), include=[])  # type: ignore[attr-defined]
        missing = acked - set(found["ids"])
        assert not missing, f"seed {seed}: acknowledged but lost: {sorted(missing)[:10]}"
        assert bank.count() >= len(acked)
        bank.close()
        print(f"sent {sent} turns, {len(acked)} acknowledged, all {len(acked)} found")


@pytest.mark.slow
class TestBrokenStore:
    def test_corrupt_store_refused_with_the_recovery(self, bus_url: str, memory_store: Path) -> None:
        bank = MemoryBank(memory_store, MiniLmEncoder())
        from nodes.memory.records import MemoryRecord
        bank.remember([MemoryRecord(id="x", text="alice: hello", kind="chat",
                                    viewer="twitch:1")])
        bank.close()
        with open(memory_store / "chroma" / "chroma.sqlite3", "r+b") as f:
            f.write(b"garbage!" * 512)
        command = [sys.executable, "-m", "nodes.memory", "--bus", bus_url,
                   "-p", f"store_path:={memory_store}"]
        broken = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert broken.returncode == 1
        assert f"memory store {memory_store / 'chroma'} cannot be opened, it looks corrupt" \
            in broken.stderr
        assert f"-p store_path:={memory_store} -p rebuild:=true" in broken.stderr
        rebuilt = subprocess.Popen([*command, "-p", "rebuild:=true"], stderr=subprocess.PIPE,
                                   text=True)
        try:
            assert rebuilt.stderr is not None
            deadline = time.monotonic() + 60
            line = ""
            while time.monotonic() < deadline and ": 1 memories" not in line:
                line = rebuilt.stderr.readline()
            assert f"memory store {memory_store}: 1 memories" in line
        finally:
            rebuilt.terminate()
            rebuilt.wait(10)
