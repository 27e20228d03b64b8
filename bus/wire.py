"""The framing of data messages: ``[topic, header, payload]``, the header as a msgpack array."""

from __future__ import annotations

from typing import Any

import msgspec

from bus.errors import WireError
from messages.base import Header
from messages.catalog import type_for_tag

__all__ = ["decode_payload", "pack", "unpack"]

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
        The frame count is not three, the topic is not UTF-8, or the header does not decode.
    """
    if len(frames) != 3:
        raise WireError(f"expected 3 frames [topic, header, payload], got {len(frames)}")
    raw_topic, raw_header, payload = frames
    try:
        topic = raw_topic.decode()
    except UnicodeDecodeError as exc:
        raise WireError(f"topic frame is not UTF-8: {raw_topic[:40]!r}") from exc
    try:
        header = _header_decoder.decode(raw_header)
    except msgspec.DecodeError as exc:
        raise WireError(f"header does not decode: {exc}") from exc
    return topic, header, payload


def decode_payload(header: Header, payload: bytes) -> Any:
    """Decode a payload by its header's type tag; a tag this build does not know (an old bag,
    a newer node) decodes as plain msgpack instead of failing."""
    kind = type_for_tag(header.type)
    if kind is None:
        return msgspec.msgpack.decode(payload)
    return msgspec.msgpack.decode(payload, type=kind)
