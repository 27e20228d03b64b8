"""The control protocol between nodes and vtbus (its ROUTER socket).

Every control message is ``[kind, meta, *frames]``: ``kind`` one of the constants below,
``meta`` a msgpack Struct, ``frames`` raw wire bytes passed through untouched (a service
payload, a latched ``[header, payload]``). Nodes talk to vtbus through one DEALER each.

=========  ==================  ==========================================================
kind       direction           meaning
=========  ==================  ==========================================================
HB         node -> bus         heartbeat carrying the node's whole `NodeInfo`
HB         bus -> node         `BusHello`: the bus epoch (changes when vtbus restarts)
BYE        node -> bus         the node is leaving
LATCH      node -> bus         `LatchMeta` + [header, payload]: the newest latched value
LGET       node -> bus         `LatchMeta`: ask for a latched topic's values
LVAL       bus -> node         `LatchMeta` + [header, payload] * n
GRAPH      node -> bus / back  ask for / the `Graph` of live nodes
CALL       client -> bus       `CallMeta` + [header, payload]
REQ        bus -> server       `CallMeta` (with the client id) + [header, payload]
REP        server -> bus -> client  `ReplyMeta` + [payload]
=========  ==================  ==========================================================
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "BusHello",
    "CallMeta",
    "Endpoint",
    "Graph",
    "LatchMeta",
    "NodeInfo",
    "NodeStatus",
    "ReplyMeta",
    "TopicStats",
]

HB, BYE, LATCH, LGET, LVAL, GRAPH, CALL, REQ, REP = (
    b"HB", b"BYE", b"LATCH", b"LGET", b"LVAL", b"GRAPH", b"CALL", b"REQ", b"REP"
)


class Endpoint(msgspec.Struct, frozen=True):
    """A topic or service name, its type tag, and whether the topic is latched."""

    name: str
    type: str
    latched: bool = False


class TopicStats(msgspec.Struct):
    """Counts for one topic as seen by one node, and the rate over the last heartbeat."""

    count: int = 0
    bytes: int = 0
    dropped: int = 0
    """Sequence gaps seen (lost messages)."""
    errors: int = 0
    """Frames or payloads that did not decode."""
    rate_hz: float = 0.0


class NodeInfo(msgspec.Struct):
    """Everything the registry knows about a node; sent whole in every heartbeat."""

    name: str
    pid: int
    host: str
    started_ns: int
    publishers: list[Endpoint] = []
    subscriptions: list[Endpoint] = []
    services: list[Endpoint] = []
    clients: list[Endpoint] = []
    parameters: dict[str, Any] = {}
    pub_stats: dict[str, TopicStats] = {}
    sub_stats: dict[str, TopicStats] = {}
    counters: dict[str, int] = {}
    hidden: bool = False
    loading: str = ""
    """What the node is still preparing before it can do its work ("voices", "model"); empty
    once it is ready. vtlaunch's "all N programs up" and the director's greeting wait for it."""


class NodeStatus(msgspec.Struct):
    info: NodeInfo
    heartbeat_age_s: float


class Graph(msgspec.Struct):
    nodes: list[NodeStatus] = []
    epoch: str = ""


class BusHello(msgspec.Struct):
    epoch: str
    ttl_s: float


class LatchMeta(msgspec.Struct):
    topic: str


class CallMeta(msgspec.Struct):
    service: str
    call_id: str
    client: bytes = b""


class ReplyMeta(msgspec.Struct):
    call_id: str
    client: bytes = b""
    status: Literal["ok", "error", "no_service"] = "ok"
    error: str = ""


encoder = msgspec.msgpack.Encoder()
