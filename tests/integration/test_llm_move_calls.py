"""Game moves through the LLM node as a real process on a real bus with the bundled model:
every move of 12 random tic-tac-toe positions is one legal call, made before the line the
persona says about it; and vLLM's guided decoding (a fake that checks what it receives)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
from helpers.llm_moves import (
    EMBEDDED,
    TOPICS,
    ask_move,
    figures,
    move_request,
    tictactoe_positions,
)
from llm_servers import FakeVllm

from bus.testing import NodeProcess, Probe
from messages.game import GameAction
from messages.llm import LlmDone, LlmRequest, ToolSpec

pytestmark = pytest.mark.slow

POSITIONS = 12
"""Each costs the bundled model 2-6 s on a loaded 2-core machine; `benchmarks/game.py`
measures more (``--positions``)."""


@pytest.fixture
async def probe(bus_url: str) -> AsyncIterator[Probe]:
    async with Probe(bus_url) as made:
        for topic in TOPICS:
            made.collect(topic)
        yield made


@pytest.mark.timeout(300)
async def test_every_move_of_the_bundled_model_is_one_legal_call_with_a_line(
    start_node: Callable[..., NodeProcess], probe: Probe
) -> None:
    start_node("nodes.llm", params=EMBEDDED)
    await probe.wait_for_subscribers("llm/request", timeout=120)
    answers = [await ask_move(probe, game, f"move-{i}")
               for i, game in enumerate(await tictactoe_positions(POSITIONS, seed=16))]
    for i, answer in enumerate(answers):
        what = f"move-{i}: {answer.done} {answer.calls}"
        assert answer.done.error == "" and not answer.done.cut_off, what
        assert answer.valid and answer.legal, f"{what} {answer.refusal}"
        assert answer.done.text.strip(), what  # a line to speak
        assert [s.text for s in answer.sentences if s.text], what
        assert answer.sentences[-1].final, what
        # the call leaves as soon as it is decoded, before the line; llm/done ends it all
        assert answer.order[0] == "llm/tool_call" and answer.order[-1] == "llm/done", what
    summary = figures(answers)
    print("moves of the bundled model:", json.dumps(summary))
    assert summary["valid_call_pct"] == summary["legal_first_try_pct"] == 100.0


class TestGuidedDecoding:
    """vLLM (it needs a GPU) through its OpenAI API: the fake refuses what vLLM would refuse
    and never streams what the schema forbids."""

    @pytest.fixture
    async def vllm(self) -> AsyncIterator[FakeVllm]:
        fake = await FakeVllm(["base", "mika", "rook"]).start()
        yield fake
        await fake.stop()

    async def start(self, start_node: Callable[..., NodeProcess], probe: Probe,
                    vllm: FakeVllm) -> None:
        start_node("nodes.llm", params={"backend": "openai", "base_url": vllm.url,
                                        "warm_up": False})
        await probe.wait_for_subscribers("llm/request", timeout=60)

    async def done(self, probe: Probe, request_id: str) -> LlmDone:
        (found,) = await probe.wait_for("llm/done", timeout=60,
                                        where=lambda d: d.request_id == request_id)
        return found  # type: ignore[no-any-return]

    async def test_a_move_is_decoded_under_the_schema_of_its_legal_choices(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm
    ) -> None:
        (game,) = await tictactoe_positions(1, seed=3)
        (action,) = game.actions()
        cell = action.options[-1].arguments["cell"]  # the worst choice is still a legal one
        vllm.script = [({"content": '{"action": {"name": "place", "arguments": '}, None),
                       ({"content": f'{{"cell": {cell}}}}}, "say": "[smug] '}, None),
                       ({"content": 'Watch this. Easy."}'}, "stop")]
        await self.start(start_node, probe, vllm)
        probe.publish("llm/request", move_request("m1", game.turn(), game.describe(),
                                                  [action]))
        done = await self.done(probe, "m1")
        assert (done.error, done.text) == ("", "Watch this. Easy.")
        (call,) = probe.messages("llm/tool_call")
        assert (call.request_id, call.persona, call.name, call.arguments) == (
            "m1", game.turn(), "place", {"cell": cell})
        sentences = [s for s in probe.messages("llm/sentence") if s.text]
        assert [(s.text, s.emotion) for s in sentences] == [
            ("Watch this.", "smug"), ("Easy.", "smug")]
        (sent,) = vllm.requests
        assert "tools" not in sent and "guided_json" not in sent
        schema = sent["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["action"]["properties"]["arguments"] == action.schema
        assert schema["required"] == ["action", "say"]
        assert vllm.refusals == []

    async def test_a_call_that_fails_a_keyword_the_decoding_left_out_is_not_made(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm
    ) -> None:
        """``pattern`` cannot be constrained: the schema goes out without it, the call comes
        back valid for what was constrained, and the validation refuses it at once."""
        name = ToolSpec(name="name_pet", description="Name the pet.", parameters={
            "type": "object", "properties": {"name": {"type": "string", "pattern": "^[A-Z]"}},
            "required": ["name"]})
        vllm.script = [({"content": '{"action": {"name": "name_pet", "arguments": '
                                    '{"name": "rex"}}, "say": "Rex it is."}'}, "stop")]
        await self.start(start_node, probe, vllm)
        probe.publish("llm/request", LlmRequest(request_id="p1", persona="rook", tools=[name]))
        done = await self.done(probe, "p1")
        assert "does not match '^[A-Z]'" in done.error and "name_pet" in done.error
        assert done.text == "Rex it is."  # the line was still said
        assert probe.messages("llm/tool_call") == []
        arguments = vllm.requests[0]["response_format"]["json_schema"]["schema"][
            "properties"]["action"]["properties"]["arguments"]
        assert arguments == {"type": "object", "properties": {"name": {"type": "string"}},
                             "required": ["name"]}
        assert vllm.refusals == []

    async def test_the_fake_refuses_a_reply_the_schema_forbids(
        self, start_node: Callable[..., NodeProcess], probe: Probe, vllm: FakeVllm
    ) -> None:
        """The fake is faithful: guided decoding never streams an illegal cell, so a script
        that does is refused (and the node reports the server's error)."""
        vllm.script = [({"content": '{"action": {"name": "place", "arguments": {"cell": 4}}, '
                                    '"say": "Mine."}'}, "stop")]
        await self.start(start_node, probe, vllm)
        action = GameAction(name="place", schema={
            "type": "object", "properties": {"cell": {"type": "integer", "enum": [1, 2]}},
            "required": ["cell"], "additionalProperties": False})
        probe.publish("llm/request", move_request("bad", "mika", "", [action]))
        done = await self.done(probe, "bad")
        assert "HTTP 400" in done.error
        assert vllm.refusals and "not valid under the response_format schema" in (
            vllm.refusals[0])
        assert probe.messages("llm/tool_call") == []

