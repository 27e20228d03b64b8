"""A game move through the LLM node without a bus or a model (the scripted backend decodes the
first value the schema allows): the call first, then the line, then done; a schema that is no
schema refused at once; keywords decoding cannot follow said once and the call validated; the
line's length a live parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.llm import ChatTurn, LlmDone, LlmRequest, ToolSpec
from messages.system import ParamSetRequest, ParamSetResponse
from nodes.llm.node import LlmNode

UNUSED_BUS = "ipc:///tmp/vt-unit-llm-moves-unused"
SCRIPT = "[happy] Centre is mine! Try to stop me. You cannot."
PLACE = ToolSpec(name="place", description="Put your X on a free cell.", parameters={
    "type": "object", "properties": {"cell": {"type": "integer", "enum": [5, 1, 9]}},
    "required": ["cell"], "additionalProperties": False})


@pytest.fixture
async def harness() -> AsyncIterator[NodeHarness]:
    node = LlmNode(options=NodeOptions(bus=UNUSED_BUS, parameters={
        "backend": "scripted", "script": SCRIPT, "warm_up": False}))
    yield NodeHarness(node)
    await node.close()


def move(request_id: str, *tools: ToolSpec, **kwargs: Any) -> LlmRequest:
    return LlmRequest(request_id=request_id, persona="mika", tools=list(tools) or [PLACE],
                      messages=[ChatTurn(role="system", content="X to move: 5, 1 or 9.")],
                      **kwargs)


async def done(harness: NodeHarness, request_id: str) -> LlmDone:
    found = await wait_until(lambda: [d for d in harness.messages("llm/done")
                                      if d.request_id == request_id], 5, what="llm/done")
    return found[0]  # type: ignore[no-any-return]


def answer_of(harness: NodeHarness, request_id: str) -> list[tuple[str, Any]]:
    return [(topic, msg) for topic, _, msg in harness.published
            if topic.startswith("llm/") and msg.request_id == request_id]


async def test_the_call_goes_out_first_then_the_line_then_done(harness: NodeHarness) -> None:
    header = harness.feed("llm/request", move("m1"))
    finished = await done(harness, "m1")
    answer = answer_of(harness, "m1")
    (topic, call), *line, (_, end) = answer
    assert topic == "llm/tool_call" and end == finished
    assert (call.persona, call.name, call.arguments) == ("mika", "place", {"cell": 5})
    assert [(m.text, m.emotion, m.final) for _, m in line] == [
        ("Centre is mine!", "happy", False), ("Try to stop me.", "happy", False),
        ("You cannot.", "happy", True)]
    assert (finished.error, finished.text) == (
        "", "Centre is mine! Try to stop me. You cannot.")
    traces = {h.trace_id for t, h, _ in harness.published if t.startswith("llm/")}
    assert traces == {header.trace_id}
    assert harness.node.counters["moves"] == 1


async def test_auto_leaves_the_model_free_to_talk(harness: NodeHarness) -> None:
    harness.feed("llm/request", move("talk", tool_choice="auto"))
    finished = await done(harness, "talk")
    assert harness.messages("llm/tool_call") == []
    assert finished.text.startswith("Centre is mine!") and not finished.error


async def test_a_schema_that_is_no_schema_is_refused_at_once(harness: NodeHarness) -> None:
    """The game counts the try as failed as soon as llm/done says why: nothing is generated."""
    broken = ToolSpec(name="place", parameters={"type": "object", "properties": 5})
    harness.feed("llm/request", move("bad", broken))
    finished = await done(harness, "bad")
    assert finished.error.startswith("tool 'place': its parameters are not a JSON schema")
    assert [topic for topic, _ in answer_of(harness, "bad")] == ["llm/done"]
    assert harness.node.counters["bad_requests"] == 1


async def test_a_keyword_decoding_cannot_follow_is_said_once_and_the_call_validated(
    harness: NodeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """The stand-in fills the free text with its script: it matches one pattern, not the
    other, and only the valid call is made."""
    def named(pattern: str) -> ToolSpec:
        return ToolSpec(name="name_pet", parameters={
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": pattern}}})

    harness.feed("llm/request", move("ok", named(r"^\[happy\]")))
    harness.feed("llm/request", move("refused", named("^[A-Z]")))
    refused = await done(harness, "refused")
    (call,) = harness.messages("llm/tool_call")
    assert (call.request_id, call.arguments["name"]) == ("ok", SCRIPT)
    assert refused.error.startswith("name_pet: invalid arguments")
    assert "does not match '^[A-Z]'" in refused.error
    assert refused.text == "Centre is mine! Try to stop me. You cannot."  # still said
    said = [r for r in caplog.records if "cannot be constrained" in r.getMessage()]
    assert len(said) == 1 and "pattern" in said[0].getMessage()
    assert harness.node.counters["moves_validated_only"] == 2
    assert harness.node.counters["moves_without_call"] == 1


async def test_the_line_s_length_is_live(harness: NodeHarness) -> None:
    answer: ParamSetResponse = await harness.call(
        "llm/set_parameters", ParamSetRequest(values={"say_max_chars": 20}))
    assert answer.successful, answer.reason
    harness.feed("llm/request", move("short"))
    finished = await done(harness, "short")
    # "[happy] Centre is mi" (20 characters): the unfinished word is not said
    assert finished.text == "Centre is" and not finished.error
    assert harness.messages("llm/tool_call")[0].arguments == {"cell": 5}


async def test_scripted_replies_are_played_in_order_then_the_schema_default() -> None:
    """A test scripts a move's raw output (a Minecraft skill's code, an illegal call): the node
    checks it like a model's, then the stand-in falls back to the first legal value."""
    illegal = '{"action": {"name": "place", "arguments": {"cell": 7}}, "say": "Seven!"}'
    legal = '{"action": {"name": "place", "arguments": {"cell": 9}}, "say": "Nine."}'
    node = LlmNode(options=NodeOptions(bus=UNUSED_BUS, parameters={
        "backend": "scripted", "script": SCRIPT, "warm_up": False,
        "backend_settings": {"replies": [illegal, legal]}}))
    harness = NodeHarness(node)
    try:
        for request_id in ("r1", "r2", "r3"):
            harness.feed("llm/request", move(request_id))
            await done(harness, request_id)
        calls = {c.request_id: c.arguments for c in harness.messages("llm/tool_call")}
        assert calls == {"r2": {"cell": 9}, "r3": {"cell": 5}}
        first = await done(harness, "r1")
        assert first.error and "7" in first.error
    finally:
        await node.close()
