"""Tool calls: vLLM's streamed tool_calls deltas, and the JSON fallback for small models."""

from __future__ import annotations

import json

import pytest

from nodes.llm.tools import (
    ToolCallAccumulator,
    parse_text_tool_calls,
    reply_is_tool_call,
    tools_prompt,
)

TOOLS = {"move", "say"}


class TestStreamedDeltas:
    def test_pieces_assemble_by_index(self) -> None:
        # the shape vLLM streams (OpenAI format): name first, arguments in pieces
        calls = ToolCallAccumulator()
        calls.feed([{"index": 0, "id": "call_a", "type": "function",
                     "function": {"name": "move", "arguments": ""}}])
        calls.feed([{"index": 0, "function": {"arguments": '{"direc'}}])
        calls.feed([{"index": 1, "id": "call_b", "function": {"name": "say", "arguments": ""}}])
        calls.feed([{"index": 0, "function": {"arguments": 'tion": "left"}'}}])
        calls.feed([{"index": 1, "function": {"arguments": '{"text": "hi"}'}}])
        parsed = calls.calls()
        assert [(c.call_id, c.name, c.arguments, c.error) for c in parsed] == [
            ("call_a", "move", {"direction": "left"}, ""),
            ("call_b", "say", {"text": "hi"}, ""),
        ]

    def test_no_arguments_is_an_empty_object(self) -> None:
        calls = ToolCallAccumulator()
        calls.feed([{"index": 0, "function": {"name": "jump"}}])
        (call,) = calls.calls()
        assert (call.name, call.arguments, call.error) == ("jump", {}, "")
        assert call.call_id.startswith("call_")

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            # cut off mid-object (max_tokens reached)
            ('{"direction": "le', "arguments are not JSON"),
            # valid JSON but not an object
            ("[1, 2]", "arguments must be a JSON object, got list"),
        ],
    )
    def test_bad_arguments_are_reported(self, arguments: str, error: str) -> None:
        calls = ToolCallAccumulator()
        calls.feed([{"index": 0, "function": {"name": "move", "arguments": arguments}}])
        assert calls.calls()[0].error.startswith(error)

    def test_a_call_without_a_name_is_reported(self) -> None:
        calls = ToolCallAccumulator()
        calls.feed([{"index": 0, "function": {"arguments": "{}"}}])
        assert calls.calls()[0].error == "a tool call without a function name"

    def test_empty_is_falsy(self) -> None:
        assert not ToolCallAccumulator()


class TestJsonFallback:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # a bare object
            ('{"name": "move", "arguments": {"direction": "left"}}',
             [("move", {"direction": "left"})]),
            # Llama 3.1 says "parameters"
            ('{"name": "move", "parameters": {"direction": "up"}}',
             [("move", {"direction": "up"})]),
            # arguments as a JSON string (OpenAI style)
            ('{"name": "say", "arguments": "{\\"text\\": \\"gg\\"}"}', [("say", {"text": "gg"})]),
            # a list of calls
            ('[{"name": "move", "arguments": {}}, {"name": "say", "arguments": {"text": "x"}}]',
             [("move", {}), ("say", {"text": "x"})]),
            # Hermes / Qwen wrapper
            ('<tool_call>\n{"name": "move", "arguments": {"direction": "down"}}\n</tool_call>',
             [("move", {"direction": "down"})]),
            # a fenced block
            ('```json\n{"name": "say", "arguments": {"text": "hi"}}\n```',
             [("say", {"text": "hi"})]),
            # the OpenAI shape
            ('{"type": "function", "function": {"name": "move", "arguments": "{}"}}',
             [("move", {})]),
            # a name that is not an offered tool is no call
            ('{"name": "rm_rf", "arguments": {}}', []),
            # JSON that is not a call
            ('{"score": 3}', []),
            # broken JSON
            ('{"name": "move", "arguments": {', []),
        ],
    )
    def test_calls_found(self, text: str, expected: list[tuple[str, dict[str, object]]]) -> None:
        calls, _ = parse_text_tool_calls(text, TOOLS)
        assert [(c.name, c.arguments) for c in calls] == expected

    def test_text_around_a_call_is_kept(self) -> None:
        calls, rest = parse_text_tool_calls(
            'Sure! {"name": "move", "arguments": {"direction": "left"}} Done.', TOOLS)
        assert [c.name for c in calls] == ["move"]
        assert rest == "Sure!  Done."

    def test_text_without_calls_is_unchanged(self) -> None:
        text = "I like {braces} and [brackets]."
        assert parse_text_tool_calls(text, TOOLS) == ([], text)


class TestReplyStart:
    @pytest.mark.parametrize(
        ("head", "verdict"),
        [
            ("{", True), ('  {"name"', True), ("[{", True), ("<tool_call>", True),
            ("```json", True),
            # too early to tell: "[" may open an emotion tag or a list of calls
            ("", None), ("   ", None), ("[", None), ("<tool", None), ("`", None),
            ("[happy] Hi", False), ("Hello", False), ("<3 you", False),
        ],
    )
    def test_verdict(self, head: str, verdict: bool | None) -> None:
        assert reply_is_tool_call(head) is verdict


def test_tools_prompt_lists_each_tool_with_its_schema() -> None:
    schema = {"type": "object", "properties": {"direction": {"type": "string"}}}
    prompt = tools_prompt([{"type": "function", "function": {
        "name": "move", "description": "Move the player.", "parameters": schema}}])
    assert '{"name": "<function>", "arguments": {...}}' in prompt
    assert f"- move: Move the player. arguments: {json.dumps(schema)}" in prompt
