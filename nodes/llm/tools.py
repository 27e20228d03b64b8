"""Tool (function) calls: assembled from vLLM's streamed ``tool_calls`` deltas, or found as JSON
in the text of a model that has no tool-call format (small models, plain completions).

vLLM (``--enable-auto-tool-choice --tool-call-parser llama3_json``) streams OpenAI deltas::

    {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                     "function": {"name": "move", "arguments": ""}}]}
    {"tool_calls": [{"index": 0, "function": {"arguments": "{\\"dir"}}]}   # argument pieces

The JSON fallback accepts what models write when asked for a call in text: a bare object
``{"name": ..., "arguments": {...}}`` (``parameters`` is Llama 3.1's word), a list of them, the
same inside ``<tool_call>...</tool_call>`` or a fenced ```json block, or an OpenAI-shaped
``{"function": {"name": ..., "arguments": "..."}}``. Only names of the offered tools count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ParsedCall",
    "ToolCallAccumulator",
    "parse_text_tool_calls",
    "reply_is_tool_call",
    "tools_prompt",
]

_CALL_STARTS = ("{", "[{", "[ {", "```", "<tool_call>", "<|python_tag|>", "<function")


@dataclass
class ParsedCall:
    """One complete call. ``error`` is set when the arguments were not a JSON object."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _new_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _arguments(raw: Any) -> tuple[dict[str, Any], str]:
    """Arguments as a dict from a dict or a JSON string; an error text otherwise."""
    if isinstance(raw, Mapping):
        return dict(raw), ""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, ""
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return {}, f"arguments are not JSON ({exc.msg} at {exc.pos}): {raw[:80]!r}"
        if isinstance(value, dict):
            return value, ""
        return {}, f"arguments must be a JSON object, got {type(value).__name__}"
    return {}, f"arguments must be a JSON object, got {type(raw).__name__}"


class ToolCallAccumulator:
    """Assembles streamed ``delta.tool_calls`` pieces into whole calls, by ``index``."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def feed(self, deltas: Iterable[Mapping[str, Any]]) -> None:
        for delta in deltas:
            index = int(delta.get("index", len(self._calls)))
            call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
            if delta.get("id"):
                call["id"] = str(delta["id"])
            function = delta.get("function") or {}
            if function.get("name"):
                call["name"] += str(function["name"])
            if function.get("arguments"):
                args = function["arguments"]
                call["arguments"] += args if isinstance(args, str) else json.dumps(args)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def calls(self) -> list[ParsedCall]:
        """The calls so far, in index order (call once the stream has ended)."""
        out = []
        for _, call in sorted(self._calls.items()):
            arguments, error = _arguments(call["arguments"])
            if not call["name"]:
                error = error or "a tool call without a function name"
            out.append(ParsedCall(call["id"] or _new_id(), call["name"], arguments, error))
        return out


def reply_is_tool_call(head: str) -> bool | None:
    """Whether a reply that begins with ``head`` is a call written as JSON (so it must be held
    back, not spoken): True, False, or None while too little has arrived to tell
    (``[`` may open ``[{`` or an emotion tag ``[happy]``)."""
    head = head.lstrip()
    if not head:
        return None
    if any(head.startswith(s) for s in _CALL_STARTS):
        return True
    if any(s.startswith(head) for s in _CALL_STARTS):
        return None
    return False


def parse_text_tool_calls(
    text: str, tool_names: Collection[str]
) -> tuple[list[ParsedCall], str]:
    """Calls written as JSON in ``text`` naming one of ``tool_names``, and the text without
    them (what is left may still be spoken)."""
    decoder = json.JSONDecoder()
    calls: list[ParsedCall] = []
    kept: list[str] = []
    i = 0
    while i < len(text):
        if text[i] not in "{[":
            kept.append(text[i])
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            kept.append(text[i])
            i += 1
            continue
        found = [c for c in _calls_in(value) if c.name in tool_names]
        if found:
            calls.extend(found)
        else:
            kept.append(text[i:end])
        i = end
    rest = "".join(kept)
    for wrapper in ("<tool_call>", "</tool_call>", "<|python_tag|>", "```json", "```"):
        rest = rest.replace(wrapper, "") if calls else rest
    return calls, rest.strip()


def _calls_in(value: Any) -> list[ParsedCall]:
    if isinstance(value, list):
        return [c for item in value for c in _calls_in(item)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("function"), dict):  # OpenAI shape
        inner = value["function"]
        arguments, error = _arguments(inner.get("arguments"))
        return [ParsedCall(str(value.get("id") or _new_id()), str(inner.get("name", "")),
                           arguments, error)]
    name = value.get("name")
    if not isinstance(name, str):
        return []
    raw = value.get("arguments", value.get("parameters"))
    arguments, error = _arguments(raw)
    return [ParsedCall(_new_id(), name, arguments, error)]


def tools_prompt(tools: Iterable[Mapping[str, Any]]) -> str:
    """System-prompt lines that teach a model with no tool-call format (the embedded one) to
    call ``tools`` (OpenAI schemas) as JSON, which `parse_text_tool_calls` then reads."""
    lines = [
        "You can use these functions. To call one, reply with only a JSON object "
        '{"name": "<function>", "arguments": {...}} and nothing else:'
    ]
    for tool in tools:
        function = tool.get("function", tool)
        lines.append(
            f"- {function.get('name')}: {function.get('description', '')} "
            f"arguments: {json.dumps(function.get('parameters', {}))}"
        )
    return "\n".join(lines)
