"""The framing of data messages: ``[topic, header, payload]``, the header as a msgpack array."""

from __future__ import annotations

from typing import Any

import msgspec

from bus.errors import WireError
from messages.base import Header
from messages.catalog import type_for_tag

__all__ = ["MAX_HEADER_BYTES", "MAX_TOPIC_BYTES", "decode_header", "decode_payload", "pack",
           "unpack"]

MAX_HEADER_BYTES = 4096
"""A header frame longer than this is not ours (its fields fit in under 1.6 KiB)."""
MAX_TOPIC_BYTES = 1024
"""A topic longer than this is not ours (the catalogue's are under 40 bytes); refusing it keeps
every table a node keys by topic small."""

_header_encoder = msgspec.msgpack.Encoder()
_header_decoder = msgspec.msgpack.Decoder(Header)


def pack(topic: str, header: Header, payload: bytes) -> list[bytes]:
    """The three frames of one message."""
    return [topic.encode(), _header_encoder.encode(header), payload]


def unpack(frames: list[bytes]) -> tuple[str, Header, bytes]:
    """Split and check one message.

    Raises
    ------
    WireError
        The frame count is not three, the topic is longer than `MAX_TOPIC_BYTES` or not
        UTF-8, or the header does not decode (see `decode_header`).
    """
    if len(frames) != 3:
        raise WireError(f"expected 3 frames [topic, header, payload], got {len(frames)}")
    raw_topic, raw_header, payload = frames
    if len(raw_topic) > MAX_TOPIC_BYTES:
        raise WireError(f"topic of {len(raw_topic)} bytes (at most {MAX_TOPIC_BYTES})")
    try:
        topic = raw_topic.decode()
    except UnicodeDecodeError as exc:
        raise WireError(f"topic frame is not UTF-8: {raw_topic[:40]!r}") from exc
    return topic, decode_header(raw_header), payload


def decode_header(raw_header: bytes) -> Header:
    """The header frame of a message, checked.

    Raises
    ------
    WireError
        It is longer than `MAX_HEADER_BYTES`, is not a msgpack header, has a field of the
        wrong type or out of its range, or a text that is not UTF-8.
    """
    if len(raw_header) > MAX_HEADER_BYTES:
        raise WireError(f"header frame of {len(raw_header)} bytes (at most {MAX_HEADER_BYTES})")
    try:
        return _header_decoder.decode(raw_header)
    # msgspec raises UnicodeDecodeError (not a DecodeError) for a text that is not UTF-8
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise WireError(f"header does not decode: {exc}") from exc


def decode_payload(header: Header, payload: bytes) -> Any:
    """Decode a payload by its header's type tag; a tag this build does not know (an old bag,
    a newer node) decodes as plain msgpack instead of failing.

    Raises
    ------
    WireError
        The payload does not decode (as the tag's type, or as msgpack at all).
    """
    kind = type_for_tag(header.type)
    try:
        if kind is None:
            return msgspec.msgpack.decode(payload)
        return msgspec.msgpack.decode(payload, type=kind)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise WireError(f"payload is not {header.type}: {exc}") from exc
