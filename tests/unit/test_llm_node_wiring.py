"""The node's wiring without a bus or a model: the scripted backend, driven by NodeHarness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.llm import Cancel, ChatTurn, LlmDone, LlmRequest, ToolSpec
from nodes.llm.backends.base import BackendError, Generation, OnDelta, Outcome
from nodes.llm.backends.scripted import ScriptedBackend
from nodes.llm.context import estimate_tokens
from nodes.llm.node import LlmNode

UNUSED_BUS = "ipc:///tmp/vt-unit-llm-unused"
SCRIPT = "[happy] Hello chat! Rook: is wrong. [sad] Sadly so. The end"


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[NodeHarness]:
    params: dict[str, Any] = {"backend": "scripted", "script": SCRIPT,
                              **getattr(request, "param", {})}
    node = LlmNode(options=NodeOptions(bus=UNUSED_BUS, parameters=params))
    yield NodeHarness(node)
    await node.close()


def ask(request_id: str, persona: str = "rook", **kwargs: Any) -> LlmRequest:
    return LlmRequest(request_id=request_id, persona=persona,
                      messages=[ChatTurn(role="user", name="bob", content="hi")], **kwargs)


async def done(harness: NodeHarness, request_id: str) -> LlmDone:
    found = await wait_until(lambda: [d for d in harness.messages("llm/done")
                                      if d.request_id == request_id], 5, what="llm/done")
    return found[0]  # type: ignore[no-any-return]


class TestReplies:
    async def test_sentences_with_emotions_then_done(self, harness: NodeHarness) -> None:
        header = harness.feed("llm/request", ask("r1", persona="mika"))
        finished = await done(harness, "r1")
        sentences = harness.messages("llm/sentence")
        assert [(s.index, s.text, s.emotion, s.final) for s in sentences] == [
            (0, "Hello chat!", "happy", False),
            (1, "Rook: is wrong.", "happy", False),  # a label only counts at the start
            (2, "Sadly so.", "sad", False),
            (3, "The end", "sad", True),
        ]
        assert finished.text == "Hello chat! Rook: is wrong. Sadly so. The end"
        assert not finished.cut_off and not finished.error
        traces = {h.trace_id for t, h, _ in harness.published if t.startswith("llm/")}
        assert traces == {header.trace_id}

    async def test_the_persona_s_sentence_limit_stops_early(self, harness: NodeHarness) -> None:
        harness.feed("llm/request", ask("r1", persona="rook"))  # rook: max_sentences = 3
        finished = await done(harness, "r1")
        texts = [s.text for s in harness.messages("llm/sentence")]
        assert texts == ["Hello chat!", "Rook: is wrong.", "Sadly so.", ""]  # then the marker
        assert not finished.cut_off

    async def test_requests_are_answered_in_order(self, harness: NodeHarness) -> None:
        for rid in ("a", "b", "c"):
            harness.feed("llm/request", ask(rid))
        await done(harness, "c")
        assert [d.request_id for d in harness.messages("llm/done")] == ["a", "b", "c"]


class TestRefusals:
    async def test_an_unknown_persona_is_answered_with_an_error(
        self, harness: NodeHarness, caplog: pytest.LogCaptureFixture
    ) -> None:
        harness.feed("llm/request", ask("x", persona="zed"))
        harness.feed("llm/request", ask("y", persona="zed"))
        assert (await done(harness, "y")).error.startswith("unknown persona 'zed'")
        assert harness.node.counters["bad_requests"] == 2
        warnings = [r for r in caplog.records if "zed" in r.getMessage()]
        assert len(warnings) == 1, "logged once, counted always"
        assert warnings[0].levelname == "WARNING"

    async def test_a_request_cancelled_before_it_runs_is_cut_off_and_silent(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("llm/cancel", Cancel(request_id="later"))
        harness.feed("llm/request", ask("later"))
        finished = await done(harness, "later")
        assert finished.cut_off and finished.text == ""
        assert harness.messages("llm/sentence") == []

    async def test_cancel_all_covers_requests_sent_before_it_only(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("llm/request", ask("before"))
        harness.feed("llm/cancel", Cancel())
        harness.feed("llm/request", ask("after"))
        assert (await done(harness, "before")).cut_off
        assert not (await done(harness, "after")).cut_off


class TestTools:
    @pytest.mark.parametrize(
        "harness",
        [{"script": '{"name": "move", "arguments": {"direction": "left"}}'}],
        indirect=True,
    )
    async def test_a_json_reply_is_a_tool_call(self, harness: NodeHarness) -> None:
        move = ToolSpec(name="move", parameters={"type": "object"})
        harness.feed("llm/request", ask("game", tools=[move]))
        finished = await done(harness, "game")
        (call,) = harness.messages("llm/tool_call")
        assert (call.name, call.arguments) == ("move", {"direction": "left"})
        assert finished.text == ""
        assert [s.text for s in harness.messages("llm/sentence")] == [""]


class TestPrefill:
    async def test_a_prefill_says_nothing_and_the_next_request_is_served(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("llm/request", ask("p1", persona="mika", prefill=True))
        harness.feed("llm/request", ask("p2", persona="zed", prefill=True))  # unknown: ignored
        harness.feed("llm/request", ask("r1", persona="mika"))
        await done(harness, "r1")
        assert {m.request_id for m in harness.messages("llm/sentence")} == {"r1"}
        assert [d.request_id for d in harness.messages("llm/done")] == ["r1"]
        assert harness.node.counters["prefills"] == 1


class SmallContext(ScriptedBackend):
    """The scripted reply from a server with a small context, refusing a longer prompt in
    llama.cpp's words, whose tokenizer counts far more tokens than the node's estimate (a
    chat template's tokens, an unknown vocabulary)."""

    context = 900

    def __init__(self) -> None:
        super().__init__(SCRIPT)
        self.prompts: list[int] = []

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        tokens = sum(3 * estimate_tokens(m["content"]) for m in generation.messages)
        self.prompts.append(tokens)
        if tokens > self.context:
            raise BackendError(f"the model server reported an error: request ({tokens} tokens) "
                               f"exceeds the available context size ({self.context} tokens)")
        return super().generate(generation, on_delta)


class TestContextOverflow:
    @pytest.mark.parametrize("harness", [{"warm_up": False}], indirect=True)
    async def test_a_refused_prompt_is_built_again_smaller_and_answered(
        self, harness: NodeHarness
    ) -> None:
        backend = harness.node.backend = SmallContext()
        long_history = [ChatTurn(role="user", name=f"viewer{i}", content=f"line {i} " * 20)
                        for i in range(40)]
        for rid in ("r1", "r2"):
            harness.feed("llm/request", LlmRequest(request_id=rid, persona="mika",
                                                   messages=long_history))
            finished = await done(harness, rid)
            assert (finished.error, finished.text) == ("", "Hello chat! Rook: is wrong. "
                                                           "Sadly so. The end")
        assert harness.node.counters["context_overflows"] == 2
        assert len(backend.prompts) == 4 and backend.prompts[1] <= SmallContext.context

    @pytest.mark.parametrize("harness", [{"warm_up": False}], indirect=True)
    async def test_a_second_refusal_is_reported_not_retried_again(
        self, harness: NodeHarness
    ) -> None:
        backend = harness.node.backend = SmallContext()
        backend.context = 0  # every prompt is refused: the retry fails too, and says why
        harness.feed("llm/request", ask("r1"))
        assert "exceeds the available context size" in (await done(harness, "r1")).error
        assert len(backend.prompts) == 2, "retried once, not more"
