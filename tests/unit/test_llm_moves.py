"""nodes.llm.moves: the reply format of a move (the schema the backend decodes under), what is
left out of it and validated instead, the streamed reading of the reply (the call as soon as
its action is complete, the line as it grows), and what a zero-time stand-in decodes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from messages.llm import ToolSpec
from messages.toolschema import CONSTRAINABLE_KEYWORDS, SCHEMA_KEYWORDS, unconstrainable_keywords
from nodes.llm.backends.base import Delta, Generation, request_body
from nodes.llm.moves import (
    MoveFormatError,
    MoveReply,
    MoveScanner,
    constrainable,
    first_instance,
    move_format,
    with_instruction,
)
from nodes.llm.reply import ReplyAssembler

FUZZ = settings(max_examples=300, derandomize=True, print_blob=True, deadline=None)
PLACE = ToolSpec(name="place", description="Put your X on a free cell.", parameters={
    "type": "object", "properties": {"cell": {"type": "integer", "enum": [5, 1, 9]}},
    "required": ["cell"], "additionalProperties": False})
MOVE = ToolSpec(name="move", parameters={
    "type": "object", "properties": {"san": {"type": "string", "enum": ["e4", "Nf3"]}},
    "required": ["san"], "additionalProperties": False})
RESIGN = ToolSpec(name="resign", description="Give up.")
PATTERNED = ToolSpec(name="name_pet", parameters={
    "type": "object", "required": ["name"],
    "properties": {"name": {"type": "string", "pattern": "^[A-Z]", "maxLength": 12}}})


def reply_to(*tools: ToolSpec, say_max_chars: int = 120, max_sentences: int = 0) -> MoveReply:
    speech = ReplyAssembler(max_sentences=max_sentences, speaker_names=["mika"])
    return MoveReply(move_format(tools, say_max_chars=say_max_chars), speech)


def feed_all(reply: MoveReply, pieces: list[str]) -> list[str]:
    """Feed every piece; the texts of every sentence released, the last ones included."""
    said = [s.text for piece in pieces for s in reply.feed(Delta(piece))]
    sentences, _ = reply.finish()
    return said + [s.text for s in sentences]


def valid(schema: dict[str, Any], value: Any) -> bool:
    return Draft202012Validator(schema).is_valid(value)


class TestFormat:
    def test_one_tool_the_action_first_then_a_bounded_line(self) -> None:
        move = move_format([PLACE], say_max_chars=80)
        assert move.schema == {
            "type": "object",
            "properties": {
                "action": {"type": "object",
                           "properties": {"name": {"const": "place"},
                                          "arguments": PLACE.parameters},
                           "required": ["name", "arguments"], "additionalProperties": False},
                "say": {"type": "string", "minLength": 1, "maxLength": 80}},
            "required": ["action", "say"], "additionalProperties": False}
        assert move.unconstrained == {"place": ()}
        assert "place: Put your X on a free cell." in move.instruction
        Draft202012Validator.check_schema(move.schema)

    def test_several_tools_are_any_of_one_object_each(self) -> None:
        move = move_format([MOVE, RESIGN], say_max_chars=80)
        options = move.schema["properties"]["action"]["anyOf"]
        assert [o["properties"]["name"] for o in options] == [{"const": "move"},
                                                              {"const": "resign"}]
        # a tool given no schema takes no arguments
        assert options[1]["properties"]["arguments"] == {
            "type": "object", "properties": {}, "additionalProperties": False}
        assert valid(move.schema, {"action": {"name": "resign", "arguments": {}}, "say": "Bye."})
        assert not valid(move.schema, {"action": {"name": "resign", "arguments": {"san": "e4"}},
                                       "say": "Bye."})
        assert not valid(move.schema, {"action": {"name": "move", "arguments": {"san": "e5"}},
                                       "say": "Hm."})

    @pytest.mark.parametrize(("tools", "message"), [
        ([], "a move needs at least one tool"),
        ([PLACE, PLACE], "two tools are named 'place'"),
        ([ToolSpec(name="bad", parameters={"type": "nope"})],
         "tool 'bad': its parameters are not a JSON schema: 'nope' is not valid"),
        ([ToolSpec(name="say", parameters={"type": "string"})],
         "tool 'say': its parameters must be an object's schema, not type 'string'"),
    ])
    def test_a_format_that_cannot_be_made_is_refused_with_the_reason(
            self, tools: list[ToolSpec], message: str) -> None:
        with pytest.raises(MoveFormatError, match=message.replace("(", r"\(")):
            move_format(tools, say_max_chars=80)

    def test_keywords_left_out_of_the_decoding_are_named_per_tool(self) -> None:
        move = move_format([PATTERNED, PLACE], say_max_chars=80)
        assert move.unconstrained == {"name_pet": ("pattern",), "place": ()}
        arguments = move.schema["properties"]["action"]["anyOf"][0]["properties"]["arguments"]
        assert arguments == {"type": "object", "required": ["name"],
                             "properties": {"name": {"type": "string", "maxLength": 12}}}

    def test_the_request_body_asks_for_the_schema_not_for_tools(self) -> None:
        move = move_format([PLACE], say_max_chars=80)
        body = request_body(Generation(messages=[], response_schema=move.schema), "m")
        assert body["response_format"] == {"type": "json_schema", "json_schema": {
            "name": "reply", "schema": move.schema, "strict": True}}
        assert "tools" not in body and "tool_choice" not in body
        assert "response_format" not in request_body(Generation(messages=[]), "m")

    def test_the_instruction_goes_last(self) -> None:
        messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Board"}]
        assert with_instruction(messages, "Go.") == [
            {"role": "system", "content": "S"}, {"role": "user", "content": "Board\nGo."}]
        assert with_instruction(messages[:1], "Go.") == [
            {"role": "system", "content": "S"}, {"role": "user", "content": "Go."}]
        assert messages[1]["content"] == "Board"  # not changed in place


schemas = st.recursive(
    st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["string", "integer", "object", "array"]),
        "enum": st.lists(st.integers(0, 9), min_size=1, max_size=3),
        "maxLength": st.integers(1, 9),
        "pattern": st.just("^a"), "format": st.just("email"), "$ref": st.just("#/$defs/x"),
        "description": st.text(max_size=5),
    }),
    lambda inner: st.fixed_dictionaries({}, optional={
        # property names that are keyword names are names, and are kept
        "properties": st.dictionaries(st.sampled_from(["pattern", "a", "enum", "$ref"]), inner,
                                      max_size=3),
        "items": inner, "oneOf": st.lists(inner, min_size=1, max_size=2),
        "additionalProperties": st.one_of(st.booleans(), inner),
        "required": st.just(["a"]),
    }),
    max_leaves=8,
)


class TestConstrainable:
    def test_keeps_what_decoding_follows_drops_the_rest(self) -> None:
        schema = {"type": "object", "description": "x", "properties": {
            "pattern": {"type": "string", "pattern": "^a", "format": "email", "maxLength": 4},
            "choice": {"oneOf": [{"const": 1}, {"const": 2}]},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "maxItems": 2},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
        }, "additionalProperties": False, "$defs": {"tag": {"type": "string"}}}
        assert constrainable(schema) == {"type": "object", "properties": {
            "pattern": {"type": "string", "maxLength": 4},
            "choice": {},
            "tags": {"type": "array", "items": {}, "maxItems": 2},
            "extra": {"type": "object"},
        }, "additionalProperties": False}

    @FUZZ
    @given(schemas)
    def test_what_is_left_is_all_constrainable(self, schema: dict[str, Any]) -> None:
        relaxed = constrainable(schema)
        assert unconstrainable_keywords(relaxed) == []
        assert not _keys(relaxed) & (SCHEMA_KEYWORDS - CONSTRAINABLE_KEYWORDS)
        assert constrainable(relaxed) == relaxed  # nothing more to leave out

    @FUZZ
    @given(schemas, st.one_of(st.integers(0, 9), st.text(max_size=3),
                              st.dictionaries(st.sampled_from(["a", "pattern"]),
                                              st.integers(0, 9), max_size=2)))
    def test_it_only_loosens(self, schema: dict[str, Any], value: Any) -> None:
        """Whatever the whole schema accepts, the decoded part accepts too: leaving keywords
        out never makes a valid call impossible (the validation after catches the rest)."""
        schema = {**schema, "$defs": {"x": {}}}
        if valid(schema, value):
            assert valid(constrainable(schema), value)


def _keys(schema: Any) -> set[str]:
    """Every key used as a keyword at any depth (property names excluded)."""
    if not isinstance(schema, dict):
        return set()
    found = set(schema) - {"properties"}
    for key, value in schema.items():
        if key == "properties":
            for sub in value.values():
                found |= _keys(sub)
        elif isinstance(value, dict):
            found |= _keys(value)
    return found


class TestScanner:
    TEXT = ('{"action": {"name": "place", "arguments": {"cell": 5}}, '
            '"say": "Caf\\u00e9 \\"X\\" \\ud83d\\ude00 \\\\ok\\n!"}')

    def test_values_complete_in_order_and_the_line_grows_as_it_comes(self) -> None:
        scanner = MoveScanner("say")
        seen: list[str] = []
        action_at = None
        for i, char in enumerate(self.TEXT):
            scanner.feed(char)
            seen.append(scanner.streamed)
            if action_at is None and "action" in scanner.values:
                action_at = i
        assert action_at == self.TEXT.index(', "say"') - 1  # at its closing brace
        assert scanner.values == json.loads(self.TEXT) and scanner.closed
        assert not scanner.error
        final = json.loads(self.TEXT)["say"]
        assert seen[-1] == final
        assert all(final.startswith(s) for s in seen)  # never half an escape or emoji
        assert "Caf" in seen and "Café " in seen and 'Café "X" ' in seen

    @FUZZ
    @given(st.text(max_size=40), st.integers(1, 9), st.data())
    def test_any_line_split_anywhere_reads_the_same(self, say: str, cell: int,
                                                    data: st.DataObject) -> None:
        text = json.dumps({"action": {"name": "place", "arguments": {"cell": cell}}, "say": say},
                          ensure_ascii=data.draw(st.booleans()))
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
        scanner = MoveScanner("say")
        previous = ""
        for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
            scanner.feed(text[start:end])
            assert scanner.streamed.startswith(previous)
            previous = scanner.streamed
        assert scanner.values == {"action": {"name": "place", "arguments": {"cell": cell}},
                                  "say": say}
        assert scanner.streamed == say

    @pytest.mark.parametrize(("text", "error"), [
        ("Sure! I pick 5.", "the reply is not a JSON object"),
        ('{"action" 5}', "':' was expected after a key"),
        ('{"action": 5 "say"', "',' or '}' was expected after a value"),
        ('{"action": tru}', "the value of 'action' is not JSON"),
    ])
    def test_text_that_is_not_such_an_object_is_an_error(self, text: str, error: str) -> None:
        scanner = MoveScanner("say")
        scanner.feed(text)
        assert scanner.error.startswith(error)


class TestMoveReply:
    def test_the_call_is_ready_once_its_action_closes_then_the_line_streams(self) -> None:
        reply = reply_to(PLACE)
        assert reply.feed(Delta('{"action": {"name": "place", "arguments": {"cell": 9')) == []
        assert reply.take_call() is None
        reply.feed(Delta("}}"))
        call = reply.take_call()
        assert call is not None and (call.name, call.arguments, call.error) == (
            "place", {"cell": 9}, "")
        assert reply.take_call() is None  # once
        said = feed_all(reply, [', "say": "Mika: [happy] Corner', ' time! I win', ' soon."}'])
        assert said == ["Corner time!", "I win soon."]
        assert reply.sentences[0].emotion == "happy"  # the tag is read, the label removed
        assert reply.problem == "" and reply.as_written is None

    def test_a_line_cut_off_loses_its_unfinished_word(self) -> None:
        reply = reply_to(PLACE, say_max_chars=24)
        said = feed_all(reply, ['{"action": {"name": "place", "arguments": {"cell": 1}}, ',
                                '"say": "Top left, because I', ' like"}'])  # 24: maxLength
        assert said == ["Top left, because I"]  # "like" may have been "likely"

    def test_a_reply_cut_by_the_token_limit_keeps_its_call_and_whole_sentences(self) -> None:
        reply = reply_to(PLACE)
        said = feed_all(reply, ['{"action": {"name": "place", "arguments": {"cell": 1}}, ',
                                '"say": "Got it. Now the next one is hal'])
        assert said == ["Got it."]
        assert reply.take_call() is not None and reply.problem == ""

    def test_the_sentence_limit_waits_for_the_call(self) -> None:
        reply = reply_to(PLACE, max_sentences=1)
        feed_all(reply, ['{"action": {"name": "place", "arguments": {"cell": 1}}, ',
                         '"say": "One. Two. Three."}'])
        assert reply.enough and [s.text for s in reply.sentences] == ["One."]

    @pytest.mark.parametrize(("pieces", "problem"), [
        (['{"action": {"name": "place", "argum'], "no call: the reply ended before its action"),
        (["I think cell 5 is best."], "no call: the reply is not a JSON object"),
        (['{"action": {"name": "jump", "arguments": {}}, "say": "Hop."}'],
         "no tool is named 'jump'; offered: place"),
        (['{"action": {"name": "place", "arguments": [5]}, "say": "Hop."}'],
         "place: the arguments are not an object"),
        (['{"action": {"name": "place", "arguments": {"cell": 4}}, "say": "Hop."}'],
         'place: invalid arguments {"cell": 4}: $.cell: 4 is not one of [5, 1, 9]'),
    ])
    def test_no_valid_call_says_why(self, pieces: list[str], problem: str) -> None:
        """A server that ignores the schema, or a keyword decoding left out: the call is
        checked against the whole schema and not made."""
        reply = reply_to(PLACE)
        feed_all(reply, pieces)
        assert reply.take_call() is None
        assert reply.problem.startswith(problem)

    def test_a_keyword_decoding_left_out_is_validated(self) -> None:
        reply = reply_to(PATTERNED)
        feed_all(reply, ['{"action": {"name": "name_pet", "arguments": {"name": "rex"}}, '
                         '"say": "Rex."}'])
        assert reply.take_call() is None
        assert reply.problem == ("name_pet: invalid arguments {\"name\": \"rex\"}: $.name: "
                                 "'rex' does not match '^[A-Z]'")


class TestFirstInstance:
    @pytest.mark.parametrize("tools", [[PLACE], [MOVE, RESIGN], [RESIGN], [PATTERNED]])
    def test_the_first_value_the_decoded_schema_allows(self, tools: list[ToolSpec]) -> None:
        move = move_format(tools, say_max_chars=10)
        value = first_instance(move.schema, "[happy] Hello chat, a scripted reply.")
        assert valid(move.schema, value)
        assert value["say"] == "[happy] He"
        assert value["action"]["name"] == tools[0].name

    def test_enum_first_bounds_respected(self) -> None:
        assert first_instance(PLACE.parameters, "") == {"cell": 5}  # the top-ranked choice
        schema = {"type": "object", "required": ["n", "s", "xs", "b"], "properties": {
            "n": {"type": "integer", "minimum": 3, "maximum": 7},
            "s": {"type": "string", "minLength": 4}, "b": {"type": "boolean"},
            "xs": {"type": "array", "minItems": 2, "items": {"type": "number",
                                                            "exclusiveMinimum": 1}}}}
        value = first_instance(schema, "ab")
        assert value == {"n": 3, "s": "ab..", "xs": [2, 2], "b": False}
        assert valid(schema, value)
