"""The LLM node as a real process on a real bus, with the real bundled model: embedded, and over
HTTP from the same model served in another process (the stand-in for vLLM); vLLM's request and
tool-call formats against a scripted loopback fake."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.ports import free_port
from llm_servers import CuttingProxy, FakeVllm, ModelServer

from bus.protocol import TopicStats
from bus.testing import NodeProcess, Probe
from messages.llm import Cancel, ChatTurn, LlmDone, LlmRequest, Sentence, ToolSpec
from messages.system import LogEvent

pytestmark = pytest.mark.slow

# a persona that talks on and on (no sentence limit), reproducibly, for cancellation tests
CHATTY = """
[[persona]]
name = "chatty"
system_prompt = "You are a storyteller. You tell very long stories."
max_tokens = 300
[persona.sampling]
temperature = 0.0
seed = 3
"""
# one thread: on a shared, loaded machine a spinning second thread slows llama.cpp down
EMBEDDED = {"threads": 1, "context": 1024, "personas": CHATTY}
SHORT = 16
"""max_tokens of the replies that run to their end: enough for a sentence or two."""


def story(request_id: str, persona: str = "chatty", max_tokens: int = 0) -> LlmRequest:
    # the words matter at temperature 0: "Tell me a long story about a dragon." made the
    # bundled model write "dragon1:" lines, all labels, nothing said (so nothing to cut)
    return LlmRequest(request_id=request_id, persona=persona, max_tokens=max_tokens, messages=[
        ChatTurn(role="user", name="viewer42",
                 content="Please tell us a long story about a brave knight and a dragon.")])


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    served = ModelServer(threads=1).start()
    yield served
    served.stop()


@pytest.fixture
async def probe(bus_url: str) -> AsyncIterator[Probe]:
    async with Probe(bus_url) as made:
        for topic in ("llm/sentence", "llm/done", "llm/tool_call", "system/log"):
            made.collect(topic)
        yield made


async def start_llm(start_node: Callable[..., NodeProcess], probe: Probe,
                    **params: Any) -> NodeProcess:
    node = start_node("nodes.llm", params=params)
    await probe.wait_for_subscribers("llm/request", timeout=60)
    await probe.wait_for_subscribers("llm/cancel", timeout=10)
    return node


async def done_for(probe: Probe, request_id: str, timeout: float = 90) -> LlmDone:
    (done,) = await probe.wait_for("llm/done", timeout=timeout,
                                   where=lambda d: d.request_id == request_id)
    return done  # type: ignore[no-any-return]


async def llm_received_a_request(probe: Probe) -> bool:
    """The llm node's heartbeat counts an llm/request received (not yet handled)."""
    graph = await probe.graph(timeout=5)
    return any(status.info.sub_stats.get("llm/request", TopicStats()).count > 0
               for status in graph.nodes if status.info.name == "llm")


def sentences_for(probe: Probe, request_id: str) -> list[Sentence]:
    return [s for s in probe.messages("llm/sentence") if s.request_id == request_id]


async def assert_full_reply(probe: Probe, request_id: str) -> LlmDone:
    done = await done_for(probe, request_id)
    assert (done.error, done.cut_off) == ("", False)
    sentences = sentences_for(probe, request_id)
    spoken = [s for s in sentences if s.text]
    assert spoken, "a reply has at least one sentence"
    assert [s.index for s in sentences] == list(range(len(sentences)))
    assert sentences[-1].final and not any(s.final for s in sentences[:-1])
    assert done.text == " ".join(s.text for s in spoken)
    assert done.tokens > 0
    return done


async def cancel_mid_reply(probe: Probe, request_id: str) -> None:
    """Cancel as soon as the first sentence arrives: the reply is cut mid-sentence."""
    probe.publish("llm/request", story(request_id))
    await probe.wait_for("llm/sentence", timeout=60, where=lambda s: s.request_id == request_id)
    probe.publish("llm/cancel", Cancel(request_id=request_id, reason="barge-in"))
    done = await done_for(probe, request_id)
    assert done.cut_off and not done.error
    spoken = sentences_for(probe, request_id)
    assert done.text == " ".join(s.text for s in spoken)  # only what was released
    assert not any(s.final for s in spoken)
    assert 0 < done.tokens < 300  # stopped long before the persona's max_tokens
    await asyncio.sleep(0.3)
    assert sentences_for(probe, request_id) == spoken, "nothing is published after llm/done"


class TestEmbedded:
    async def test_a_reply_streams_sentences_then_done(
        self, start_node: Callable[..., NodeProcess], probe: Probe
    ) -> None:
        await start_llm(start_node, probe, **EMBEDDED)
        header = probe.publish("llm/request", LlmRequest(
            request_id="r1", persona="mika",
            max_tokens=SHORT, messages=[
                ChatTurn(role="user", name="viewer42", content="What is your favourite game?")]))
        await assert_full_reply(probe, "r1")
        (first, *_) = sentences_for(probe, "r1")
        assert first.persona == "mika"
        # the trace of the request travels with every sentence
        headers = [h for h, m in probe.received["llm/sentence"] if m.request_id == "r1"]
        assert {h.trace_id for h in headers} == {header.trace_id}

    async def test_cancel_mid_sentence_then_the_next_request_is_served(
        self, start_node: Callable[..., NodeProcess], probe: Probe
    ) -> None:
        await start_llm(start_node, probe, **EMBEDDED)
        await cancel_mid_reply(probe, "long")
        probe.publish("llm/request", story("after", persona="rook", max_tokens=SHORT))
        await assert_full_reply(probe, "after")

    async def test_a_queued_request_cancelled_before_it_starts_says_nothing(
        self, start_node: Callable[..., NodeProcess], probe: Probe
    ) -> None:
        await start_llm(start_node, probe, **EMBEDDED)
        probe.publish("llm/request", story("first"))
        probe.publish("llm/request", story("queued"))
        probe.publish("llm/cancel", Cancel(request_id="queued"))
        probe.publish("llm/cancel", Cancel(request_id="first"))
        first, queued = await done_for(probe, "first"), await done_for(probe, "queued")
        assert first.cut_off and queued.cut_off
        assert queued.text == "" and sentences_for(probe, "queued") == []

    async def test_cancel_all_stops_the_running_and_the_waiting_not_the_later(
        self, start_node: Callable[..., NodeProcess], probe: Probe
    ) -> None:
        await start_llm(start_node, probe, **EMBEDDED)
        probe.publish("llm/request", story("running"))
        probe.publish("llm/request", story("waiting"))
        await probe.wait_for("llm/sentence", timeout=60, where=lambda s: s.request_id == "running")
        probe.publish("llm/cancel", Cancel(reason="the collaborator spoke"))
        probe.publish("llm/request", story("later", persona="rook", max_tokens=SHORT))
        running, waiting = await done_for(probe, "running"), await done_for(probe, "waiting")
        assert running.cut_off and waiting.cut_off
        await assert_full_reply(probe, "later")

    async def test_an_unknown_persona_is_refused_and_the_node_serves_on(
        self, start_node: Callable[..., NodeProcess], probe: Probe
    ) -> None:
        await start_llm(start_node, probe, **EMBEDDED)
        probe.publish("llm/request", story("who", persona="nobody"))
        done = await done_for(probe, "who")
        assert done.error == "unknown persona 'nobody' (known: chatty, mika, rook)"
        logs = await probe.wait_for("system/log", where=lambda e: "nobody" in e.message)
        assert logs[0].level == "warning"
        probe.publish("llm/request", story("next", persona="mika", max_tokens=SHORT))
        await assert_full_reply(probe, "next")


    async def test_emoji_and_zalgo_in_the_chat_do_not_overflow_the_context(
        self, start_node: Callable[..., NodeProcess], probe: Probe
    ) -> None:
        # issue 14 soak: a byte-level BPE makes several tokens of each emoji or combining mark,
        # so lines that "fit" at 3.5 characters a token overflowed the context, and stayed in
        # the history: every later request failed ("exceeds the available context size")
        await start_llm(start_node, probe, **EMBEDDED)
        for n, (emoji, zalgo) in enumerate([(200, 100), (1300, 600)]):  # fit by chars; huge
            spam = "\U0001f600\U0001f525\U0001f4af" * emoji
            cursed = "Z\u0334\u0322\u031ba\u0337l\u0338g\u0335o\u0336" * zalgo
            history = [ChatTurn(role="user", name="spammer", content=spam),
                       ChatTurn(role="assistant", name="mika", content="Wow, so many emoji!"),
                       ChatTurn(role="user", name="zed", content=cursed),
                       ChatTurn(role="user", name="viewer42", content="What do you like?")]
            probe.publish("llm/request", LlmRequest(
                request_id=f"spam{n}", persona="mika", max_tokens=SHORT, messages=history,
                chat=[f"spammer: {spam}", f"zed: {cursed}", "viewer42: hi mika"]))
            await assert_full_reply(probe, f"spam{n}")


class TestOverHttp:
    async def test_a_reply_streams_from_the_server(
        self, start_node: Callable[..., NodeProcess], probe: Probe, server: ModelServer
    ) -> None:
        await start_llm(start_node, probe, backend="openai", base_url=server.url,
                        personas=CHATTY)
        probe.publish("llm/request", story("http", persona="rook", max_tokens=SHORT))
        await assert_full_reply(probe, "http")

    async def test_cancel_mid_sentence(
        self, start_node: Callable[..., NodeProcess], probe: Probe, server: ModelServer
    ) -> None:
        await start_llm(start_node, probe, backend="openai", base_url=server.url,
                        personas=CHATTY)
        await cancel_mid_reply(probe, "long-http")

    async def test_a_stream_cut_mid_reply_is_an_error_and_the_node_serves_on(
        self, start_node: Callable[..., NodeProcess], probe: Probe, server: ModelServer
    ) -> None:
        proxy = await CuttingProxy(server.port).start()
        try:
            await start_llm(start_node, probe, backend="openai", base_url=proxy.url,
                            personas=CHATTY)
            proxy.cut_after = 20
            probe.publish("llm/request", story("cut"))
            done = await done_for(probe, "cut")
            assert proxy.cuts == 1
            assert not done.cut_off
            assert "the LLM stream from" in done.error and "token(s)" in done.error
            await probe.wait_for("system/log", where=lambda e: "cut" in e.message)
            assert sentences_for(probe, "cut")[-1].final  # the reply is closed for TTS
            probe.publish("llm/request", story("whole", persona="rook", max_tokens=SHORT))
            await assert_full_reply(probe, "whole")
        finally:
            await proxy.stop()

    async def test_a_server_that_dies_is_reported_and_a_restarted_one_is_used(
        self, start_node: Callable[..., NodeProcess], probe: Probe
    ) -> None:
        dying = ModelServer(free_port(), threads=1)
        await start_llm(start_node, probe, backend="openai", base_url=dying.url,
                        personas=CHATTY, ready_timeout_s=1.0)
        # nothing listens yet: the request gets an error naming the address
        probe.publish("llm/request", story("early"))
        early = await done_for(probe, "early")
        assert f"the LLM server at {dying.url} did not answer /v1/models" in early.error
        await asyncio.to_thread(dying.start)
        try:
            probe.publish("llm/request", story("doomed"))
            await probe.wait_for("llm/sentence", timeout=60,
                                 where=lambda s: s.request_id == "doomed")
            dying.kill()
            doomed = await done_for(probe, "doomed")
            assert "the LLM stream from" in doomed.error
            warnings: list[LogEvent] = await probe.wait_for(
                "system/log", where=lambda e: "doomed" in e.message)
            assert warnings[0].level == "warning" and warnings[0].node == "llm"
            await asyncio.to_thread(dying.start)  # the same address, a new process
            probe.publish("llm/request", story("revived", persona="rook", max_tokens=SHORT))
            await assert_full_reply(probe, "revived")
        finally:
            dying.stop()


LONG_SENTENCE = ("[happy] This first sentence is rather long, with a clause or two in it, "
                 "and it keeps going on for a while. Done.")


def vtparam(bus_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "vtparam"), *args,
                           "--bus", bus_url], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "COLUMNS": "200"})


class TestParametersWithVtparam:
    """``vtparam set`` on the running node: a live parameter changes the next reply, one read
    at start is refused with the restart that would change it (the scripted backend: no
    model to load)."""

    async def test_live_changes_the_next_reply_and_at_start_is_refused(
        self, start_node: Callable[..., NodeProcess], probe: Probe, bus_url: str
    ) -> None:
        await start_llm(start_node, probe, backend="scripted", script=LONG_SENTENCE)
        probe.publish("llm/request", story("before", persona="mika"))
        await assert_full_reply(probe, "before")
        result = await asyncio.to_thread(vtparam, bus_url, "set", "llm",
                                         "max_sentence_chars", "40")
        assert result.returncode == 0, result.stderr
        probe.publish("llm/request", story("after", persona="mika"))
        await assert_full_reply(probe, "after")
        before = [s.text for s in sentences_for(probe, "before") if s.text]
        after = [s.text for s in sentences_for(probe, "after") if s.text]
        assert before[-1] == after[-1] == "Done."
        assert max(map(len, before)) > 40 >= max(map(len, after)), after
        refused = await asyncio.to_thread(vtparam, bus_url, "set", "llm", "model_path",
                                          "/models/other.gguf")
        assert refused.returncode != 0
        assert "model_path is read at start: restart the node with -p model_path:=VALUE" in \
            refused.stderr


MOVE = ToolSpec(name="move", description="Move the player.", parameters={
    "type": "object", "properties": {"direction": {"type": "string"}}})


class TestVllmFormat:
    """Against a scripted fake of vLLM (it needs a GPU): what the node sends and how it reads
    vLLM's tool-call stream."""

    @pytest.fixture
    async def vllm(self) -> AsyncIterator[FakeVllm]:
        fake = await FakeVllm(["base", "mika", "rook"]).start()
        yield fake
        await fake.stop()

    async def test_each_persona_names_its_lora_and_sampling(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm
    ) -> None:
        vllm.script = [({"content": "[happy] Hi"}, None), ({"content": "!"}, "stop")]
        await start_llm(start_node, probe, backend="openai", base_url=vllm.url)
        deadline = time.monotonic() + 60
        while len(vllm.requests) < 2:  # a request would stop the warm-up (the test below)
            assert time.monotonic() < deadline, f"warm-up: {vllm.requests}"
            await asyncio.sleep(0.05)
        for persona in ("mika", "rook"):
            probe.publish("llm/request", story(persona, persona=persona))
            await assert_full_reply(probe, persona)
        # each persona's prompt was computed once at start (one token), before any request
        warm_up, served = vllm.requests[:2], vllm.requests[2:]
        assert [(r["model"], r["max_tokens"]) for r in warm_up] == [("mika", 1), ("rook", 1)]
        assert [r["model"] for r in served] == ["mika", "rook"]
        assert [r["temperature"] for r in served] == [0.9, 0.6]
        assert all(r["stream"] and "tools" not in r for r in served)
        assert sentences_for(probe, "mika")[0].emotion == "happy"

    async def test_tokens_are_counted_by_vllm_s_tokenize(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm
    ) -> None:
        vllm.script = [({"content": "Hi."}, "stop")]
        await start_llm(start_node, probe, backend="openai", base_url=vllm.url)
        probe.publish("llm/request", story("counted", persona="mika"))
        await assert_full_reply(probe, "counted")
        # llama.cpp's format first (refused with a 400), then vLLM's, and only vLLM's after
        first, *later = vllm.tokenize_requests
        assert set(first) == {"content", "add_special"}
        assert later and all(r["model"] == "base" and "prompt" in r for r in later)
        assert any(r["prompt"] == first["content"] for r in later)

    async def test_a_request_during_the_warm_up_goes_first(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm
    ) -> None:
        """After a restart the director re-sends the turn it lost: it must not wait for every
        persona's warm-up (18 s on a loaded CPU), only for the one prompt being computed."""
        vllm.script = [({"content": "Hi."}, "stop")]
        vllm.warm_up_gate = asyncio.Event()
        await start_llm(start_node, probe, backend="openai", base_url=vllm.url)
        deadline = time.monotonic() + 30
        while not vllm.requests:  # mika's warm-up is held at the server
            assert time.monotonic() < deadline, "no warm-up request"
            await asyncio.sleep(0.05)
        probe.publish("llm/request", story("rook", persona="rook"))
        while not await llm_received_a_request(probe):  # while the warm-up is held
            assert time.monotonic() < deadline, "the request never reached the llm node"
            await asyncio.sleep(0.1)
        vllm.warm_up_gate.set()
        await assert_full_reply(probe, "rook")
        assert [(r["model"], r["max_tokens"] == 1) for r in vllm.requests] == [
            ("mika", True), ("rook", False)]  # rook's warm-up never ran: its request computed it

    async def test_one_seed_for_every_persona(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm
    ) -> None:
        vllm.script = [({"content": "Hi."}, "stop")]
        await start_llm(start_node, probe, backend="openai", base_url=vllm.url, seed=7,
                        warm_up=False)
        for persona in ("mika", "rook"):
            probe.publish("llm/request", story(persona, persona=persona))
            await assert_full_reply(probe, persona)
        assert [(r["model"], r["seed"]) for r in vllm.requests] == [("mika", 7), ("rook", 7)]

    @pytest.mark.parametrize(
        "script",
        [
            # vLLM's tool parser: the name first, the arguments in pieces
            [({"tool_calls": [{"id": "chatcmpl-tool-1", "type": "function", "index": 0,
                               "function": {"name": "move"}}]}, None),
             ({"tool_calls": [{"index": 0, "function": {"arguments": '{"direction": "'}}]},
              None),
             ({"tool_calls": [{"index": 0, "function": {"arguments": 'left"}'}}]}, None),
             ({"content": ""}, "tool_calls")],
            # no tool parser: the model wrote the call as JSON text (the fallback)
            [({"content": '{"name": "move", '}, None),
             ({"content": '"parameters": {"direction": "left"}}'}, "stop")],
        ],
        ids=["tool_calls", "json_text"],
    )
    async def test_a_tool_call_is_published_not_spoken(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm,
        script: list[tuple[dict[str, Any], str | None]],
    ) -> None:
        vllm.script = script
        await start_llm(start_node, probe, backend="openai", base_url=vllm.url, warm_up=False)
        probe.publish("llm/request", LlmRequest(
            request_id="game", persona="rook", tools=[MOVE], tool_choice="auto",
            messages=[ChatTurn(role="user", name="bob", content="go left")]))
        done = await done_for(probe, "game")
        (call,) = await probe.wait_for("llm/tool_call")
        assert (call.request_id, call.persona, call.name, call.arguments) == (
            "game", "rook", "move", {"direction": "left"})
        assert done.text == "" and not done.error
        assert [s.text for s in sentences_for(probe, "game")] == [""]  # the end marker only
        (sent,) = vllm.requests
        assert sent["tools"] == [{"type": "function", "function": {
            "name": "move", "description": "Move the player.", "parameters": MOVE.parameters}}]
        assert sent["tool_choice"] == "auto"


class TestBadConfiguration:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            # a persona file that is not there: named, before any model is loaded
            ({"personas_file": "/nonexistent/personas.toml"},
             "persona file /nonexistent/personas.toml: No such file or directory"),
            # a backend that does not exist
            ({"backend": "gpt5"},
             "parameter backend must be llamacpp, openai or scripted, got 'gpt5'"),
        ],
    )
    def test_the_node_refuses_to_start_and_says_why(
        self, bus_url: str, params: dict[str, Any], message: str
    ) -> None:
        cmd = NodeProcess("nodes.llm", bus_url, params=params).cmd
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert message in done.stderr
