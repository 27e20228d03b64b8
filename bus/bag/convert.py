"""Converting a bag to JSON message encoding, the form Foxglove and Lichtblick open.

Their JSON-schema parser (``parseJsonSchema`` in Lichtblick's ``packages/mcap-support``) wants
one flat object schema per channel: no ``$ref`` (nested types are inlined), no ``anyOf`` (an
optional field takes the type of its value), a ``type`` on every field among object, array,
string, number, integer and boolean (enums get the type of their values), ``properties`` on
every object (empty for a free-form dict), arrays of one level, and bytes as base64 strings
(``contentEncoding`` base64, which they decode back to bytes; on fields only, not array items).
Each message also carries its wire header as the ``_header`` object, so traces and sequence
numbers can be followed in the viewer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from mcap.writer import CompressionType, Writer

from bus.bag.reader import BagMessage, BagReader
from bus.bag.writer import LIBRARY
from messages.base import Header
from messages.catalog import json_schema, type_for_tag

__all__ = ["HEADER_FIELD", "convert_to_json", "flat_schema", "json_message"]

HEADER_FIELD = "_header"
_MAX_DEPTH = 16
_HEADER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The wire header: publisher, sequence number, publish stamp, type, trace.",
    "properties": {
        "publisher": {"type": "string"},
        "seq": {"type": "integer"},
        "stamp_ns": {"type": "integer"},
        "type": {"type": "string"},
        "trace_id": {"type": "string"},
        "trace_stamp_ns": {"type": "integer"},
    },
}
_DROPPED = ("$defs", "title", "additionalProperties")
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def flat_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """A flat object schema (see the module docstring) from a msgspec JSON schema, with the
    ``_header`` property added; ``None`` (a type this build does not know) gives an object
    with only ``_header``."""
    flat: dict[str, Any] = (
        _flatten(schema, schema.get("$defs", {}), 0) if schema else {"type": "object"}
    )
    if flat.get("type") != "object":
        flat = {"type": "object", "properties": {"value": flat}}
    properties: dict[str, Any] = flat.setdefault("properties", {})
    properties[HEADER_FIELD] = _HEADER_SCHEMA
    return flat


def _flatten(node: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:  # a recursive type: stop inlining, keep the object
        return {"type": "object", "properties": {}}
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _flatten({**target, **extra}, defs, depth + 1)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"] or [{}]
        extra = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        return _flatten({**branches[0], **extra}, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "default" and value is None):
            continue
        if key == "properties":
            out[key] = {name: _flatten(v, defs, depth + 1) for name, v in value.items()}
        elif key == "items":
            out[key] = _flatten(value, defs, depth + 1)
        else:
            out[key] = value
    if "type" not in out or out["type"] == "null":
        if "enum" in out:
            kinds = {_JSON_TYPES.get(type(v), "string") for v in out["enum"]}
            out["type"] = kinds.pop() if len(kinds) == 1 else "string"
        else:  # Any: an object is what our messages carry there
            out["type"] = "object"
    if out["type"] == "object":
        out.setdefault("properties", {})  # the viewers iterate it: a free-form dict has none
    elif out["type"] == "array":
        item = out.get("items") or {"type": "object", "properties": {}}
        if item.get("type") == "array":  # nested arrays: the viewers take one level
            item = {"type": "object", "properties": {}}
        # base64 is understood on fields only, not on array items
        out["items"] = {k: v for k, v in item.items() if k != "contentEncoding"}
    return out


def json_message(message: BagMessage) -> dict[str, Any]:
    """One message as the plain object the JSON bag stores (bytes as base64)."""
    if isinstance(message.msg, msgspec.Struct | dict):
        body = msgspec.to_builtins(message.msg)
    else:  # an undecodable payload: its bytes
        body = {"value": msgspec.to_builtins(message.msg)}
    if not isinstance(body, dict):
        body = {"value": body}
    body[HEADER_FIELD] = _header_dict(message.header)
    return body


def _header_dict(header: Header) -> dict[str, Any]:
    return {f: getattr(header, f) for f in header.__struct_fields__}


def _source_schema(reader: BagReader, tag: str) -> dict[str, Any] | None:
    """The current type's schema (messages decode to it), else the one recorded in the bag."""
    cls = type_for_tag(tag)
    if cls is not None:
        return json_schema(cls)
    recorded = reader.schemas.get(tag)
    return msgspec.json.decode(recorded.data) if recorded is not None and recorded.data else None


def convert_to_json(path: str | Path, out: str | Path) -> tuple[int, list[str]]:
    """Write a JSON-encoded copy of the bag at ``path`` to ``out`` (one MCAP file).

    Returns the number of messages written and the problems met reading the bag.
    """
    reader = BagReader(path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    schemas: dict[str, int] = {}
    channels: dict[tuple[str, str], int] = {}
    count = 0
    with open(out, "wb") as stream:
        writer = Writer(stream, compression=CompressionType.ZSTD)
        writer.start(profile="", library=LIBRARY)
        for message in reader.messages():
            tag = message.header.type
            key = (message.topic, tag)
            if key not in channels:
                if tag not in schemas:
                    schemas[tag] = writer.register_schema(
                        name=tag, encoding="jsonschema",
                        data=msgspec.json.encode(flat_schema(_source_schema(reader, tag))))
                channels[key] = writer.register_channel(
                    topic=message.topic, message_encoding="json", schema_id=schemas[tag],
                    metadata={"type": tag})
            writer.add_message(
                channels[key], log_time=message.log_time,
                data=msgspec.json.encode(json_message(message)),
                publish_time=message.header.stamp_ns, sequence=message.header.seq & 0xFFFFFFFF)
            count += 1
        for name, values in reader.metadata.items():
            writer.add_metadata(name, values)
        writer.finish()
    return count, list(reader.problems)
