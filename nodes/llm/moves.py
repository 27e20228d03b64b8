"""A move: a reply that must be one tool call, decoded under the tools' schemas, with a line
the persona says about it (no bus here).

A request whose ``tool_choice`` is ``required`` (a game move: the director gives the mover's
legal actions as tools, each schema an ``enum`` of the legal choices) is answered with one
JSON object the backend decodes under a JSON schema (`move_format`: llama.cpp's and vLLM's
``response_format``), so the call is valid by construction::

    {"action": {"name": "place", "arguments": {"cell": 5}}, "say": "Centre is mine!"}

The action comes first: it is complete, and published, while the line is still being written
(a truncated line loses words, never the call), and the line can be about the move it
follows. With several tools the action is ``anyOf`` one object per tool. ``say`` is bounded by
``maxLength``; it streams through the same sentence and emotion path as a text reply
(`MoveReply` feeds it to a `ReplyAssembler`), so TTS speaks it as it comes.

A tool schema with keywords constrained decoding cannot follow (`messages.toolschema`:
``pattern``, ``$ref``, ``oneOf``...) is decoded under what is left (`constrainable`) and the call
validated against the whole schema afterwards: an invalid call is not made, the reply's
``problem`` says why. Every call is validated, constrained or not (a server that ignores
``response_format`` cannot slip one through).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from messages.llm import ToolSpec
from messages.toolschema import CONSTRAINABLE_KEYWORDS, unconstrainable_keywords
from nodes.llm.backends.base import Delta
from nodes.llm.reply import ReplyAssembler, SpokenSentence
from nodes.llm.tools import ParsedCall

__all__ = ["MoveFormat", "MoveFormatError", "MoveReply", "MoveScanner", "constrainable",
           "first_instance", "move_format", "with_instruction"]

ACTION, SAY = "action", "say"
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {},
                                "additionalProperties": False}
"""What a tool given no parameters schema takes: nothing."""
MOVE_MIN_TOKENS = 64
"""A move's reply may not be given fewer tokens: its action (a name, an argument or two, and
the whitespace llama.cpp's grammar lets the model put between them: up to 30 tokens seen
with the bundled model) must fit before the line."""
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")


class MoveFormatError(ValueError):
    """A tool whose parameters are not a JSON schema: no call to it can be checked."""


@dataclass(frozen=True)
class MoveFormat:
    """How one move is asked for and checked."""

    schema: dict[str, Any]
    """The reply's JSON schema, for the backend's constrained decoding."""
    validators: dict[str, Validator]
    """Tool name -> its whole schema, compiled: every call is checked against it."""
    unconstrained: dict[str, tuple[str, ...]]
    """Tool name -> the keywords of its schema left out of the decoding (validated only)."""
    instruction: str
    """What the reply must hold, in a few words, for the end of the prompt."""
    say_max_chars: int


def move_format(tools: Sequence[ToolSpec], *, say_max_chars: int) -> MoveFormat:
    """The reply format of a move among ``tools``.

    Raises
    ------
    MoveFormatError
        A tool's parameters are not a valid JSON schema of an object, or two tools share a
        name.
    """
    validators: dict[str, Validator] = {}
    unconstrained: dict[str, tuple[str, ...]] = {}
    actions: list[dict[str, Any]] = []
    for tool in tools:
        if tool.name in validators:
            raise MoveFormatError(f"two tools are named {tool.name!r}")
        schema = tool.parameters or NO_ARGUMENTS
        cls = validator_for(schema, default=Draft202012Validator)
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            raise MoveFormatError(
                f"tool {tool.name!r}: its parameters are not a JSON schema: {exc.message}"
            ) from None
        if schema.get("type", "object") != "object":
            raise MoveFormatError(f"tool {tool.name!r}: its parameters must be an object's "
                                  f"schema, not type {schema.get('type')!r}")
        validators[tool.name] = cls(schema)
        unconstrained[tool.name] = tuple(unconstrainable_keywords(schema))
        actions.append({
            "type": "object",
            "properties": {"name": {"const": tool.name}, "arguments": constrainable(schema)},
            "required": ["name", "arguments"], "additionalProperties": False,
        })
    if not actions:
        raise MoveFormatError("a move needs at least one tool")
    action = actions[0] if len(actions) == 1 else {"anyOf": actions}
    schema = {
        "type": "object",
        "properties": {ACTION: action,
                       SAY: {"type": "string", "minLength": 1, "maxLength": say_max_chars}},
        "required": [ACTION, SAY], "additionalProperties": False,
    }
    return MoveFormat(schema, validators, unconstrained, _instruction(tools),
                      say_max_chars)


def _instruction(tools: Sequence[ToolSpec]) -> str:
    """Short: every prompt token costs ~8 ms on a busy CPU, and the decoding enforces the
    format anyway; it says what goes in the line."""
    lines = ["(Your move: choose the action, then say one short sentence about it, "
             "in your own voice.)"]
    lines += [f"- {t.name}: {t.description}" for t in tools if t.description]
    return "\n".join(lines)


def constrainable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with only the keywords constrained decoding follows: what it decodes under.
    A sub-schema of other keywords only (``{"$ref": ...}``, ``{"oneOf": [...]}``) becomes
    ``{}``, any value, and the validation after decoding checks it."""
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, Mapping):
            kept[key] = {name: constrainable(sub) if isinstance(sub, Mapping) else {}
                         for name, sub in value.items()}
        elif key == "items":
            if isinstance(value, Mapping):
                kept[key] = constrainable(value)
        elif key == "additionalProperties":
            if isinstance(value, bool):
                kept[key] = value
        elif key in CONSTRAINABLE_KEYWORDS:
            kept[key] = value
    return kept


def with_instruction(messages: list[dict[str, str]], instruction: str) -> list[dict[str, str]]:
    """``messages`` with ``instruction`` at the end of the last user message (or as one):
    last, where a small model heeds it, and after the cached part of the prompt."""
    if messages and messages[-1]["role"] == "user":
        last = messages[-1]
        return [*messages[:-1], {**last, "content": f"{last['content']}\n{instruction}"}]
    return [*messages, {"role": "user", "content": instruction}]


def first_instance(schema: Mapping[str, Any], text: str) -> Any:
    """The first value ``schema`` (its constrainable keywords) allows, free strings filled
    from ``text``: what a zero-time stand-in decodes (the first enum value is the game's
    top-ranked choice)."""
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if isinstance(schema.get("anyOf"), list) and schema["anyOf"]:
        return first_instance(schema["anyOf"][0], text)
    kind = schema.get("type", "object" if "properties" in schema else "null")
    if isinstance(kind, list):
        kind = kind[0] if kind else "null"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: first_instance(properties.get(name) or {}, text)
                for name in schema.get("required", [])}
    if kind == "array":
        return [first_instance(schema.get("items") or {}, text)
                for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        value = text[:high] if isinstance(high, int) else text
        return value.ljust(low, ".")
    if kind in ("integer", "number"):
        value = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    return None


class MoveScanner:
    """Reads the top level of a JSON object as it streams: each value decoded once it is
    complete (``values``), and the text of one string value (``streamed``) as it grows.
    ``error`` says why the text is not such an object (then nothing more is read)."""

    def __init__(self, stream_key: str):
        self.stream_key = stream_key
        self.text = ""
        self.values: dict[str, Any] = {}
        self.error = ""
        self.closed = False
        """The object's closing brace was read."""
        self._done = 0
        self._depth = 0
        self._in_string = self._escape = False
        self._state = "start"
        self._key = ""
        self._start = 0
        """Where the current key or value begins."""

    @property
    def streamed(self) -> str:
        """The decodable part of ``stream_key``'s string value so far."""
        if self._key != self.stream_key:
            return ""
        if self._state == "done_value" or self.stream_key in self.values:
            value = self.values.get(self.stream_key)
            return value if isinstance(value, str) else ""
        if self._state != "string_value":
            return ""
        body = self.text[self._start + 1:]
        try:
            return str(json.loads('"' + body[:_decodable(body)] + '"'))
        except ValueError:
            return ""

    def feed(self, text: str) -> None:
        self.text += text
        while self._done < len(self.text) and not self.error and not self.closed:
            self._step(self._done, self.text[self._done])
            self._done += 1

    def _step(self, i: int, char: str) -> None:
        if self._in_string:
            if self._escape:
                self._escape = False
            elif char == "\\":
                self._escape = True
            elif char == '"':
                self._in_string = False
                if self._depth == 1:
                    self._string_closed(i)
            return
        if char in " \t\r\n" and self._state != "scalar":
            return
        if self._depth > 1:
            if char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._depth == 1:
                    self._value_done(i + 1)
            return
        state = self._state
        if state == "start":
            self._expect(char == "{", "the reply is not a JSON object")
            self._depth, self._state = 1, "key"
        elif state in ("key", "after_value") and char == "}":
            self.closed, self._depth = True, 0
        elif state == "key":
            self._expect(char == '"', "a key was expected")
            self._in_string, self._start, self._state = True, i, "string_key"
        elif state == "colon":
            self._expect(char == ":", "':' was expected after a key")
            self._state = "value"
        elif state == "value":
            self._start = i
            if char == '"':
                self._in_string, self._state = True, "string_value"
            elif char in "{[":
                self._depth, self._state = 2, "nested"
            else:
                self._state = "scalar"
        elif state == "scalar":
            if char in ",} \t\r\n":
                self._value_done(i)
                self._step(i, char)
        elif state == "after_value":
            self._expect(char == ",", "',' or '}' was expected after a value")
            self._state = "key"

    def _string_closed(self, i: int) -> None:
        if self._state == "string_key":
            self._key = json.loads(self.text[self._start:i + 1])
            self._state = "colon"
        else:
            self._value_done(i + 1)

    def _value_done(self, end: int) -> None:
        raw = self.text[self._start:end]
        try:
            self.values[self._key] = json.loads(raw)
        except ValueError:
            self.error = f"the value of {self._key!r} is not JSON: {raw[:80]!r}"
        self._state = "after_value"

    def _expect(self, ok: bool, why: str) -> None:
        if not ok and not self.error:
            self.error = f"{why} at character {self._done}: {self.text[:80]!r}"


def _cut(line: str) -> int:
    """Where a line cut off mid-way is best ended: after its last sentence, else before its
    unfinished word (all of it when it is one word)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(line)]
    if ends:
        return ends[-1]
    space = line.rstrip().rfind(" ")
    return space if space > 0 else len(line)


def _decodable(body: str) -> int:
    """How much of a JSON string's body (no quotes) ends on a whole character: not inside an
    escape, not between the two halves of a surrogate pair."""
    i = safe = 0
    while i < len(body):
        if body[i] != "\\":
            i += 1
        elif i + 1 >= len(body):
            break
        elif body[i + 1] != "u":
            i += 2
        elif i + 6 > len(body):
            break
        elif body[i + 2:i + 4].lower() in ("d8", "d9", "da", "db"):  # a high surrogate
            if i + 12 > len(body):
                break
            i += 12
        else:
            i += 6
        safe = i
    return safe


@dataclass
class MoveReply:
    """One move being streamed: raw JSON in, the line's sentences and the call out.

    Parameters
    ----------
    move:
        The format it is decoded under.
    speech:
        Where the line goes: a `ReplyAssembler` offered no tools (labels, sentences, emotions).
    """

    move: MoveFormat
    speech: ReplyAssembler
    scanner: MoveScanner = field(init=False)
    call: ParsedCall | None = None
    """The call, once its action is complete; ``error`` set when it is not valid."""
    _fed: int = 0
    _taken: bool = False

    def __post_init__(self) -> None:
        self.scanner = MoveScanner(SAY)

    @property
    def enough(self) -> bool:
        """The line reached the persona's sentence limit after the call was made."""
        return self.call is not None and self.speech.enough

    @property
    def sentences(self) -> list[SpokenSentence]:
        return self.speech.sentences

    @property
    def spoken_text(self) -> str:
        return self.speech.spoken_text

    @property
    def as_written(self) -> None:
        """Never kept for the next prompt: a persona shown its own JSON would answer in JSON."""
        return None

    def feed(self, delta: Delta) -> list[SpokenSentence]:
        """Sentences of the line completed by this delta."""
        if not delta.text:
            return []
        self.scanner.feed(delta.text)
        if self.call is None and ACTION in self.scanner.values:
            self.call = self._checked(self.scanner.values[ACTION])
        return self._speak()

    def take_call(self) -> ParsedCall | None:
        """The valid call, once, as soon as it is complete (publish it then)."""
        if self._taken or self.call is None or self.call.error:
            return None
        self._taken = True
        return self.call

    def finish(self) -> tuple[list[SpokenSentence], str]:
        """The end of the stream: the last sentences, and why no call was made ("" when one
        was, or is in `take_call`)."""
        sentences = self._speak(ended=True)
        if not self.speech.enough:
            sentences += self.speech.finish(unfinished=not self._cut_off)[0]
        return sentences, self.problem

    @property
    def _cut_off(self) -> bool:
        """The line did not end by itself: at ``maxLength``, or with the reply's tokens."""
        said = self.scanner.values.get(SAY)
        return not isinstance(said, str) or len(said) >= self.move.say_max_chars

    @property
    def problem(self) -> str:
        if self.call is not None:
            return self.call.error
        if self.scanner.error:
            return f"no call: {self.scanner.error}"
        return ("no call: the reply ended before its action was complete "
                f"({len(self.scanner.text)} characters)")

    def _speak(self, *, ended: bool = False) -> list[SpokenSentence]:
        """Feed the line's new text to the speech; the word being written is held back
        until the line goes on or ends, and a line cut off (at ``maxLength``, or by the end
        of the tokens) loses its unfinished word rather than saying half of it."""
        said = self.scanner.streamed
        if not self._cut_off:
            end = len(said)
        elif ended or SAY in self.scanner.values:
            end = _cut(said)
        else:
            end = max(said.rfind(" "), said.rfind("\n")) + 1
        if end <= self._fed:
            return []
        new, self._fed = said[self._fed:end], end
        return self.speech.feed(Delta(new))

    def _checked(self, action: Any) -> ParsedCall:
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        if not isinstance(action, Mapping):
            return ParsedCall(call_id, "", {}, f"the action is not an object: {action!r:.80}")
        name, arguments = action.get("name"), action.get("arguments", {})
        validator = self.move.validators.get(name) if isinstance(name, str) else None
        if not isinstance(name, str) or validator is None:
            return ParsedCall(call_id, str(name), {},
                              f"no tool is named {name!r}; offered: "
                              f"{', '.join(self.move.validators)}")
        if not isinstance(arguments, dict):
            return ParsedCall(call_id, name, {}, f"{name}: the arguments are not an object")
        error = best_match(validator.iter_errors(arguments))
        if error is not None:
            return ParsedCall(call_id, name, arguments,
                              f"{name}: invalid arguments {json.dumps(arguments)[:120]}: "
                              f"{error.json_path}: {error.message}"[:400])
        return ParsedCall(call_id, name, arguments)
