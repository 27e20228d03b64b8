"""The base of every message type, the wire header, and service types.

Every payload is a flat msgspec Struct with a stable tag (``"<domain>.<Name>"``) so a payload
that lands on the wrong topic is recognised instead of misread. Evolution rules are in
``messages/README.md``: new fields get defaults, a field never changes type or meaning, a tag
never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

import msgspec

__all__ = ["Header", "Message", "ServiceType", "service_types"]

# A header comes from outside the node: its fields are checked while it decodes (in C, about
# 0.1-0.4 us a header here), so a forged one is a dropped frame, never a number that breaks
# a counter later (a sequence number of 2**63-1 overflowed the drop count in a fault run).
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_Name = Annotated[str, msgspec.Meta(max_length=256)]
_TraceId = Annotated[str, msgspec.Meta(max_length=1024)]


class Message(msgspec.Struct, tag_field="type", kw_only=True):
    """Base of all payloads; subclasses set ``tag="domain.Name"``."""


class Header(msgspec.Struct, array_like=True, frozen=True):
    """The second frame of every message on the bus.

    Every integer is in 0..2**63-1 and the texts are short (256 characters, 1024 for the
    trace id): a header outside these limits does not decode.

    Attributes
    ----------
    publisher:
        Name of the node that published the message.
    seq:
        Per (publisher, topic) sequence number starting at 0; gaps are drops.
    stamp_ns:
        ``time.time_ns()`` when the message was published.
    type:
        Tag of the payload type (lets tools decode a remapped or unknown topic).
    trace_id:
        Id of the event that started this chain (a chat message, an utterance).
    trace_stamp_ns:
        When that event happened, ``time.time_ns()``; latency of a chain = stamp_ns - this.
    """

    publisher: _Name
    seq: _Count
    stamp_ns: _Count
    type: _Name
    trace_id: _TraceId = ""
    trace_stamp_ns: _Count = 0


Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


@dataclass(frozen=True)
class ServiceType(Generic[Req, Resp]):
    """A request type and a response type under one name, like a ROS ``.srv`` file."""

    name: str
    request: type[Req]
    response: type[Resp]


_SERVICE_TYPES: dict[str, ServiceType] = {}


def service_type(name: str, request: type[Req], response: type[Resp]) -> ServiceType[Req, Resp]:
    """Declare (once, at import) a service type and add it to the catalogue of types."""
    srv = ServiceType(name, request, response)
    _SERVICE_TYPES[name] = srv
    return srv


def service_types() -> dict[str, ServiceType]:
    """Every declared service type by name."""
    return dict(_SERVICE_TYPES)
