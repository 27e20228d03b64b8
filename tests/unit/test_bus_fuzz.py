"""Fuzzing what the bus decodes from outside (issue 14, item 14): the wire framing and the
header, a node's receive and control paths, and vtbus's control messages. Any frames are
decoded or dropped (`WireError`, a count), never another exception.

Reproducible: a fixed derandomized search, bounded examples; a failure prints its blob.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import protocol as p
from bus.address import resolve
from bus.errors import WireError
from bus.memory import MemoryTransport
from bus.node import Node, NodeOptions, RawMessage
from bus.vtbus import Broker
from bus.wire import decode_header, unpack
from messages.base import Header
from messages.demo import Count
from messages.director import Turn

FUZZ = settings(max_examples=300, derandomize=True, print_blob=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# -------------------------------------------------------------- strategies

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(),
    st.text(max_size=40), st.binary(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)
GOOD_HEADER = msgspec.msgpack.encode(Header("talker", 3, 10**18, "demo.Count", "t", 10**18))


@st.composite
def flipped(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with a few bytes changed, and maybe cut short."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[:draw(st.integers(0, len(data)))])


def bad_utf8_publisher(junk: bytes) -> bytes:
    text = junk[:31]
    return b"\x94" + bytes([0xA0 | len(text)]) + text + b"\x00\x00\xa1x"


header_frames = st.one_of(
    st.binary(max_size=64),
    values.map(msgspec.msgpack.encode),
    st.lists(values, max_size=8).map(msgspec.msgpack.encode),
    flipped(GOOD_HEADER),
    st.binary(min_size=1, max_size=31).map(bad_utf8_publisher),
    st.just(GOOD_HEADER),
)
payload_frames = st.one_of(
    st.binary(max_size=64), values.map(msgspec.msgpack.encode),
    st.just(msgspec.msgpack.encode(Count(value=1))),
    st.just(msgspec.msgpack.encode(Turn(speaker="mika"))),
)
topics = st.sampled_from([b"demo/count", b"director/turn", b"demo/count/x", b"other",
                          b"\xff\xfe"]) | st.binary(max_size=20)
messages = st.one_of(
    st.tuples(topics, header_frames, payload_frames).map(list),
    st.lists(st.binary(max_size=30), max_size=5),
)


def check_header(header: Header) -> None:
    for number in (header.seq, header.stamp_ns, header.trace_stamp_ns):
        assert 0 <= number <= 2**63 - 1
    assert len(header.publisher) <= 256 and len(header.type) <= 256


# -------------------------------------------------------------- the wire


class TestWire:
    @FUZZ
    @given(frames=messages)
    def test_unpack_decodes_or_refuses(self, frames: list[bytes]) -> None:
        try:
            topic, header, payload = unpack(frames)
        except WireError:
            return
        assert isinstance(topic, str) and isinstance(payload, bytes)
        check_header(header)

    @FUZZ
    @given(raw=header_frames)
    def test_decode_header_decodes_or_refuses(self, raw: bytes) -> None:
        try:
            header = decode_header(raw)
        except WireError:
            return
        check_header(header)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(header), type=Header) == header


# -------------------------------------------------------------- a node


@pytest.fixture(scope="module")
def bus() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture(scope="module")
def node(bus: MemoryTransport) -> Node:
    made = Node("fuzz", options=NodeOptions(transport=bus))
    made.create_subscription(Count, "demo/count", lambda m: None)
    made.create_subscription(Turn, "director/turn", lambda m: None)
    made.create_subscription(RawMessage, "demo/", lambda m: None, prefix=True)
    return made


class TestNode:
    @FUZZ
    @given(frames=messages, from_latch=st.booleans())
    def test_receiving_never_raises(self, node: Node, bus: MemoryTransport,
                                    frames: list[bytes], from_latch: bool) -> None:
        failures = node.counters["callback_errors"]
        if from_latch and len(frames) == 3 and _is_utf8(frames[0]):
            bus.deliver_from_registry(frames)
        else:
            bus.deliver(frames)
        # the node takes every failure in (counted); none may come from our own code
        assert node.counters["callback_errors"] == failures
        msgspec.msgpack.decode(p.encoder.encode(node._info()), type=p.NodeInfo)

    control_kinds = st.sampled_from([p.HB, p.LVAL, p.REP, p.GRAPH, p.REQ]) | st.binary(max_size=6)

    @FUZZ
    @given(kind=control_kinds, rest=st.lists(header_frames | payload_frames, max_size=5))
    def test_control_messages_never_raise(self, node: Node, bus: MemoryTransport, kind: bytes,
                                          rest: list[bytes]) -> None:
        # ``node`` attaches the node to the bus: run alone (``-k``), the test had none
        bus.deliver_control([kind, *rest])


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


# -------------------------------------------------------------- vtbus


def enc(obj: Any) -> bytes:
    return msgspec.msgpack.encode(obj)


metas = st.one_of(
    st.builds(p.LatchMeta, st.sampled_from(["director/turn", "demo/count", "x"])).map(enc),
    st.builds(p.CallMeta, st.text(max_size=10), st.text(max_size=10)).map(enc),
    st.builds(p.ReplyMeta, st.text(max_size=10), st.binary(max_size=8)).map(enc),
    st.builds(p.NodeInfo, st.text(max_size=10), st.integers(-(2**63), 2**64 - 1),
              st.text(max_size=10), st.integers(0, 2**63)).map(enc),
)
control_frames = st.lists(metas | header_frames | payload_frames, max_size=5)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    made = Broker(resolve("ipc:///tmp/vt-unit-unused"))
    yield made
    made._ctx.term()


class TestVtbus:
    kinds = st.sampled_from([p.HB, p.BYE, p.LATCH, p.LGET, p.GRAPH, p.CALL, p.REP, p.LVAL,
                             p.REQ]) | st.binary(max_size=6)

    @FUZZ
    @given(identity=st.binary(max_size=6), kind=kinds, rest=control_frames,
           delivered=st.booleans())
    def test_control_messages_never_raise(self, broker: Broker, identity: bytes, kind: bytes,
                                          rest: list[bytes], delivered: bool) -> None:
        replies: list[list[bytes]] = []

        def send(frames: list[bytes]) -> bool:
            replies.append(frames)
            return delivered

        broker.handle([identity, kind, *rest], send, 0.0)
        assert broker.bad_input["failed"] == 0, "a control message hit a bug in vtbus"
        broker.handle([b"probe", p.GRAPH], send, 0.0)  # what it holds still encodes
        assert replies[-1][1] == p.GRAPH
