"""bus.bag.convert: JSON bags that Foxglove and Lichtblick open (flat schemas, base64 bytes)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from mcap.reader import make_reader

from bus.bag import BagWriter, convert_to_json, flat_schema, read_messages
from messages.base import Header
from messages.catalog import json_schema, message_types

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "data" / "golden").glob("*.mcap"))


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere inside a JSON value."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def viewer_accepts(schema: dict[str, Any], where: str = "$") -> None:
    """The rules of Lichtblick's ``parseJsonSchema`` (packages/mcap-support), the parser both
    viewers use for JSON channels, as a walk that raises where the viewer would."""
    if schema.get("type") != "object":
        raise AssertionError(f"{where}: expected type object, got {schema.get('type')!r}")
    for name, field in schema["properties"].items():  # the viewer iterates it: must exist
        kind = field.get("type")
        if kind == "object":
            viewer_accepts(field, f"{where}.{name}")
        elif kind == "array":
            item = field["items"]
            if item.get("type") == "object":
                viewer_accepts(item, f"{where}.{name}[]")
            elif item.get("type") not in ("boolean", "string", "number", "integer"):
                raise AssertionError(f"{where}.{name}: unsupported array item {item}")
            elif "contentEncoding" in item:
                raise AssertionError(f"{where}.{name}: contentEncoding on an array item")
        elif kind == "string":
            if field.get("contentEncoding") not in (None, "base64"):
                raise AssertionError(f"{where}.{name}: contentEncoding {field['contentEncoding']}")
        elif kind not in ("boolean", "number", "integer"):
            raise AssertionError(f"{where}.{name}: unsupported type {kind!r}")


def every_schema_node(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for prop in schema.get("properties", {}).values():
        yield from every_schema_node(prop)
    if "items" in schema:
        yield from every_schema_node(schema["items"])


class TestFlatSchema:
    @pytest.mark.parametrize("tag", sorted(message_types()))  # every message type
    def test_no_refs_no_anyof_and_a_type_everywhere(self, tag: str) -> None:
        flat = flat_schema(json_schema(message_types()[tag]))
        assert flat["type"] == "object"
        assert not [k for k, _ in walk(flat) if k in ("$ref", "$defs", "anyOf", "oneOf")]
        assert all("type" in node for node in every_schema_node(flat))
        assert flat["properties"]["_header"]["properties"]["trace_id"] == {"type": "string"}
        viewer_accepts(flat)

    @pytest.mark.parametrize(("field", "expected"), [
        # a free-form dict: an object with no known properties
        ({"type": "object", "additionalProperties": {}}, {"type": "object", "properties": {}}),
        # Any
        ({}, {"type": "object", "properties": {}}),
        # a list of bytes: base64 is not understood on array items
        ({"type": "array", "items": {"type": "string", "contentEncoding": "base64"}},
         {"type": "array", "items": {"type": "string"}}),
        # a list of lists: one level only
        ({"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
         {"type": "array", "items": {"type": "object", "properties": {}}}),
        # Optional[None]-like: never the null type
        ({"anyOf": [{"type": "null"}]}, {"type": "object", "properties": {}}),
    ])
    def test_shapes_the_viewers_do_not_take_are_made_plain(
        self, field: dict[str, Any], expected: dict[str, Any]
    ) -> None:
        flat = flat_schema({"type": "object", "properties": {"f": field}})
        assert flat["properties"]["f"] == expected
        viewer_accepts(flat)

    def test_an_optional_nested_message_is_inlined_as_an_object(self) -> None:
        flat = flat_schema(json_schema(message_types()["chat.ChatNextResponse"]))
        message = flat["properties"]["message"]
        assert message["type"] == "object"
        assert message["properties"]["text"] == {"type": "string"}
        assert message["properties"]["emotes"]["items"]["properties"]["id"] == {"type": "string"}

    def test_bytes_are_base64_strings_and_literals_typed_enums(self) -> None:
        props = flat_schema(json_schema(message_types()["audio.AudioFrame"]))["properties"]
        assert props["pcm"] == {"type": "string", "contentEncoding": "base64"}
        assert props["format"] == {"enum": ["f32le", "s16le"], "default": "s16le",
                                   "type": "string"}

    def test_an_unknown_type_gets_an_object_with_its_header(self) -> None:
        assert set(flat_schema(None)["properties"]) == {"_header"}
        viewer_accepts(flat_schema(None))


@pytest.mark.skipif(not GOLDEN, reason="no golden bag")
class TestConvert:
    @pytest.fixture
    def converted(self, tmp_path: Path) -> Path:
        out = tmp_path / "golden.json.mcap"
        count, problems = convert_to_json(GOLDEN[0], out)
        assert problems == []
        assert count == sum(1 for _ in read_messages(GOLDEN[0]))
        return out

    def test_every_channel_is_json_with_a_flat_jsonschema(self, converted: Path) -> None:
        with open(converted, "rb") as f:
            summary = make_reader(f).get_summary()
        assert summary is not None
        for channel in summary.channels.values():
            assert channel.message_encoding == "json"
            schema = summary.schemas[channel.schema_id]
            assert schema.encoding == "jsonschema"
            text = schema.data.decode()
            assert "$ref" not in text and "anyOf" not in text

    def test_messages_validate_against_their_schema(self, converted: Path) -> None:
        jsonschema = pytest.importorskip("jsonschema")
        with open(converted, "rb") as f:
            for schema, _, message in make_reader(f).iter_messages():
                assert schema is not None
                jsonschema.validate(msgspec.json.decode(message.data),
                                    msgspec.json.decode(schema.data))

    def test_bytes_and_headers_survive(self, converted: Path) -> None:
        originals = {m.topic: m for m in read_messages(GOLDEN[0])}
        with open(converted, "rb") as f:
            decoded = {c.topic: msgspec.json.decode(m.data)
                       for _, c, m in make_reader(f).iter_messages()}
        frame = decoded["game/frame"]
        assert base64.b64decode(frame["data"]) == originals["game/frame"].msg.data
        header = originals["game/frame"].header
        assert frame["_header"] == msgspec.structs.asdict(header)

    def test_an_unknown_type_is_converted_as_plain_data(self, tmp_path: Path) -> None:
        enc = msgspec.msgpack.Encoder()
        with BagWriter(tmp_path / "old.mcap") as writer:
            h = Header("old", 0, 1, "old.Gone")
            writer.write("old/topic", h, enc.encode(h), enc.encode({"x": b"\x01\x02"}))
        count, _ = convert_to_json(tmp_path / "old.mcap", tmp_path / "old.json.mcap")
        with open(tmp_path / "old.json.mcap", "rb") as f:
            ((_, _, message),) = list(make_reader(f).iter_messages())
        assert msgspec.json.decode(message.data)["x"] == base64.b64encode(b"\x01\x02").decode()
        assert count == 1
