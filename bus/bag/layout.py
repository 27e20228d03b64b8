"""How one bus message is stored in an MCAP message record (see ``bus/bag/README.md``).

The record's data is a msgpack array of two elements, ``[header, payload]``:

- ``header`` is the wire header frame exactly as it arrived (itself a msgpack array, inlined);
- ``payload`` is a msgpack ``bin`` holding the payload frame exactly as it arrived.

So the data is valid msgpack on its own, the header keeps every field (even ones a newer build
adds), and a payload that is not valid msgpack is still recorded byte for byte.
"""

from __future__ import annotations

import msgspec

from messages.base import Header

__all__ = [
    "MESSAGE_ENCODING",
    "METADATA_NAME",
    "PROFILE",
    "SCHEMA_ENCODING",
    "bin_prefix",
    "pack_data",
    "unpack_data",
]

PROFILE = "vtshow"
MESSAGE_ENCODING = "msgpack"
SCHEMA_ENCODING = "jsonschema"
METADATA_NAME = "vtshow"
"""Name of the metadata record holding the git revision, the launch file and the command."""

_data_decoder = msgspec.msgpack.Decoder(tuple[msgspec.Raw, bytes])
_header_decoder = msgspec.msgpack.Decoder(Header)


def bin_prefix(size: int) -> bytes:
    """The msgpack ``bin`` marker for ``size`` bytes."""
    if size < 0x100:
        return b"\xc4" + size.to_bytes(1, "big")
    if size < 0x10000:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


def pack_data(raw_header: bytes, payload: bytes) -> bytes:
    """The record data for one message (see the module docstring)."""
    return b"\x92" + raw_header + bin_prefix(len(payload)) + payload


def unpack_data(data: bytes | memoryview) -> tuple[bytes, Header, bytes]:
    """The raw header frame, the decoded header and the payload frame of one record.

    Raises
    ------
    msgspec.DecodeError
        The data is not ``[header, bin payload]`` or the header does not decode.
    """
    raw, payload = _data_decoder.decode(data)
    raw_header = bytes(raw)
    try:
        return raw_header, _header_decoder.decode(raw_header), payload
    except UnicodeDecodeError as exc:  # msgspec's error for a text that is not UTF-8
        raise msgspec.DecodeError(f"header text is not UTF-8: {exc}") from exc
