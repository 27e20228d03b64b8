"""Mem0 fact memory with inference: the memory node sends each viewer's line to the served
model's OpenAI API (vLLM with ``llm:=vllm``), and keeps the facts the model extracted; on the
CPU default it says once why it keeps no facts.

vLLM needs a GPU: its stand-in is `llm_servers.FakeVllm` (vLLM's OpenAI server on loopback).
The bundled model cannot stand in: Mem0's extraction request is 8,631 tokens, more than
SmolLM2-135M's 8,192-token context (the llama.cpp server refuses it, measured).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers.chat import chat_line
from llm_servers import FakeVllm

from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.memory import MemoryQuery, MemoryResults
from nodes.memory.node import MemoryNode

pytestmark = pytest.mark.slow

FACT = "Alice has a cat named Biscuit"


@pytest.fixture
async def vllm() -> AsyncIterator[FakeVllm]:
    server = await FakeVllm(["base"]).start()
    # Mem0's extraction answer: {"memory": [{"text": ...}]}, under response_format json_object
    server.script = [({"content": json.dumps({"memory": [{"text": FACT}]})}, "stop")]
    yield server
    await server.stop()


async def test_facts_are_extracted_by_the_served_model(vllm: FakeVllm,
                                                       memory_store: Path) -> None:
    node = MemoryNode(options=NodeOptions(bus="ipc:///tmp/vt-memory-unused", parameters={
        "store_path": str(memory_store), "facts": "mem0",
        "llm_url": f"{vllm.url}/v1", "llm_model": "base"}))
    try:
        harness = NodeHarness(node)
        harness.feed("chat/message", chat_line("my cat is called Biscuit", user="alice",
                                               user_id="1", msg_id="m1"))
        await wait_until(lambda: vllm.requests, 60.0, what="Mem0's request to the server")
        (request,) = vllm.requests
        assert request["model"] == "base"
        assert request["response_format"] == {"type": "json_object"}
        assert "my cat is called Biscuit" in request["messages"][-1]["content"]
        found: list[str] = []
        deadline = asyncio.get_running_loop().time() + 30
        while not found:  # the fact is stored by Mem0's thread after the answer
            assert asyncio.get_running_loop().time() < deadline, "no fact found in 30 s"
            results: MemoryResults = await harness.call(
                "memory/search", MemoryQuery(query="alice's cat", viewer="twitch:1"))
            found = [hit.text for hit in results.hits if hit.kind == "fact"]
            await asyncio.sleep(0.1)
        assert found == [FACT]  # the model's fact, not the line as it was typed
    finally:
        await node.close()


async def test_cpu_default_says_once_why_it_keeps_no_facts(
        memory_store: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    node = MemoryNode(options=NodeOptions(bus="ipc:///tmp/vt-memory-unused", parameters={
        "store_path": str(memory_store)}))
    await node.close()
    said = [r.getMessage() for r in caplog.records if "facts" in r.getMessage()]
    assert len(said) == 1, said
    assert "llm:=vllm" in said[0] and "8,192" in said[0]
