"""The Node runtime without a bus: callbacks, traces, bad input, latched dedupe, services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
import pytest

from bus import protocol as p
from bus import wire
from bus.errors import CallbackError
from bus.memory import MemoryTransport
from bus.node import Node, NodeOptions, RawMessage, Trace
from bus.params import Parameters, live
from bus.testing import NodeHarness
from messages.base import Header
from messages.demo import AddRequest, AddTwoInts, Count
from messages.director import Turn
from messages.system import ParamGetRequest, ParamSetRequest


@pytest.fixture
def bus() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
async def node(bus: MemoryTransport) -> AsyncIterator[Node]:
    made = Node("unit", options=NodeOptions(parameters={"gain": "2"}, transport=bus))
    yield made
    await made.close()


class TestCallbackChecks:
    def test_subscription_callback_with_three_arguments_is_refused(self, node: Node) -> None:
        def wrong(a: object, b: object, c: object) -> None: ...

        with pytest.raises(CallbackError, match="must take 1 or 2"):
            node.create_subscription(Count, "demo/count", wrong)

    def test_timer_callback_takes_nothing(self, node: Node) -> None:
        with pytest.raises(CallbackError, match="must take 0"):
            node.create_timer(1.0, lambda x: None)

    def test_service_callback_takes_the_request(self, node: Node) -> None:
        with pytest.raises(CallbackError, match="must take 1"):
            node.create_service(AddTwoInts, "demo/add", lambda: None)  # type: ignore[arg-type]

    def test_timer_period_must_be_positive(self, node: Node) -> None:
        with pytest.raises(ValueError, match="must be positive"):
            node.create_timer(0, lambda: None)

    def test_publisher_type_is_checked(self, node: Node) -> None:
        pub = node.create_publisher(Count, "demo/count")
        with pytest.raises(TypeError, match="carries Count, not Turn"):
            pub.publish(Turn(speaker="a"))  # type: ignore[arg-type]


class TestDelivery:
    def test_typed_callback_gets_message_and_header(self, node: Node) -> None:
        got: list[tuple[Count, Header]] = []
        node.create_subscription(Count, "demo/count", lambda m, h: got.append((m, h)))
        harness = NodeHarness(node)
        harness.feed("demo/count", Count(value=7), publisher="talker")
        assert got[0][0].value == 7 and got[0][1].publisher == "talker"

    def test_wrong_type_on_a_topic_is_counted_and_dropped(self, node: Node) -> None:
        got: list[Count] = []
        sub = node.create_subscription(Count, "demo/count", got.append)
        harness = NodeHarness(node)
        harness.feed("demo/count", Turn(speaker="x"))
        harness.feed("demo/count", Count(value=1))
        assert [m.value for m in got] == [1]
        assert sub.stats.errors == 1 and node.counters["bad_input"] == 1

    def test_foreign_frames_are_counted_and_dropped(self, node: Node, bus: MemoryTransport) -> None:
        node.create_subscription(Count, "demo/count", lambda m: None)
        bus.deliver([b"demo/count", b"junk"])
        bus.deliver([b"demo/count", b"\x01", b""])
        assert node.counters["bad_input"] == 2

    def test_callback_that_raises_does_not_stop_delivery(self, node: Node) -> None:
        seen: list[int] = []

        def fragile(msg: Count) -> None:
            seen.append(msg.value)
            if msg.value == 0:
                raise RuntimeError("boom")

        node.create_subscription(Count, "demo/count", fragile)
        harness = NodeHarness(node)
        harness.feed("demo/count", Count(value=0))
        harness.feed("demo/count", Count(value=1))
        assert seen == [0, 1] and node.counters["callback_errors"] == 1

    def test_sequence_gaps_count_as_drops(self, node: Node, bus: MemoryTransport) -> None:
        sub = node.create_subscription(Count, "demo/count", lambda m: None)
        for seq in (0, 1, 4, 5):
            header = Header("talker", seq, seq, "demo.Count")
            payload = msgspec.msgpack.encode(Count(value=seq))
            bus.deliver(wire.pack("demo/count", header, payload))
        assert sub.stats.dropped == 2 and sub.stats.count == 4

    def test_prefix_raw_subscription_sees_every_topic(self, node: Node) -> None:
        got: list[RawMessage] = []
        node.create_subscription(RawMessage, "demo/", got.append, prefix=True)
        harness = NodeHarness(node)
        harness.feed("demo/count", Count(value=1))
        harness.feed("demo/heard", Count(value=2))
        assert [m.topic for m in got] == ["demo/count", "demo/heard"]

    async def test_async_callbacks_run_in_order(self, node: Node) -> None:
        done: list[int] = []

        async def slow(msg: Count) -> None:
            await asyncio.sleep(0.01 if msg.value == 0 else 0)
            done.append(msg.value)

        node.create_subscription(Count, "demo/count", slow)
        harness = NodeHarness(node)
        for value in range(3):
            harness.feed("demo/count", Count(value=value))
        await harness.settle()
        assert done == [0, 1, 2]

    async def test_async_queue_overflow_drops_oldest(self, node: Node) -> None:
        done: list[int] = []

        async def record(msg: Count) -> None:
            done.append(msg.value)

        sub = node.create_subscription(Count, "demo/count", record, queue_size=2)
        harness = NodeHarness(node)
        for value in range(5):  # nothing runs in between: the worker has not started
            harness.feed("demo/count", Count(value=value))
        await harness.settle()
        assert done == [3, 4] and sub.stats.dropped == 3


class TestTraces:
    def test_publishing_in_a_callback_carries_the_incoming_trace(self, node: Node) -> None:
        out = node.create_publisher(Count, "demo/heard")
        node.create_subscription(Count, "demo/count", lambda m: out.publish(m))
        harness = NodeHarness(node)
        harness.feed("demo/count", Count(value=1), trace=Trace("chat-42", 1234))
        _, header, _ = harness.published[-1]
        assert (header.trace_id, header.trace_stamp_ns) == ("chat-42", 1234)

    def test_publishing_outside_a_callback_starts_a_chain(self, node: Node) -> None:
        out = node.create_publisher(Count, "demo/count")
        harness = NodeHarness(node)
        header = out.publish(Count(value=1))
        assert header.trace_id == "unit/demo/count#0" and header.trace_stamp_ns == header.stamp_ns
        assert harness.published == [] or harness.published[-1][1] == header

    def test_traced_block(self, node: Node) -> None:
        out = node.create_publisher(Count, "demo/count")
        NodeHarness(node)
        with node.traced(Trace("utterance-1", 99)):
            header = out.publish(Count(value=1))
        assert header.trace_id == "utterance-1"


class TestLatched:
    def _frames(self, stamp: int, value: int) -> list[bytes]:
        header = Header("director", value, stamp, "director.Turn")
        return wire.pack("director/turn", header, msgspec.msgpack.encode(Turn(speaker=str(value))))

    def test_same_value_from_bus_and_registry_is_delivered_once(
        self, node: Node, bus: MemoryTransport
    ) -> None:
        got: list[Turn] = []
        node.create_subscription(Turn, "director/turn", got.append)
        bus.deliver(self._frames(100, 1))
        bus.deliver_from_registry(self._frames(100, 1))  # the registry's copy
        assert [t.speaker for t in got] == ["1"]

    def test_an_older_registry_value_never_overwrites_a_newer_one(
        self, node: Node, bus: MemoryTransport
    ) -> None:
        got: list[Turn] = []
        node.create_subscription(Turn, "director/turn", got.append)
        bus.deliver(self._frames(200, 2))
        bus.deliver_from_registry(self._frames(100, 1))
        assert [t.speaker for t in got] == ["2"]

    def test_catalogue_decides_latching(self, node: Node) -> None:
        assert node.create_publisher(Turn, "director/turn").latched
        assert not node.create_publisher(Count, "demo/count").latched


class Gain(Parameters):
    gain: Annotated[float, live("output gain")] = 1.0


class TestServicesAndParameters:
    async def test_parameters_from_options_and_services(self, node: Node) -> None:
        assert node.declare_parameters(Gain).gain == 2.0
        harness = NodeHarness(node)
        got = await harness.call("unit/get_parameters", ParamGetRequest())
        assert got.values == {"gain": 2.0}
        changed = await harness.call("unit/set_parameters", ParamSetRequest(values={"gain": 3}))
        assert changed.successful and node.get_parameter("gain") == 3.0

    async def test_handler_result_type_is_checked(self, node: Node, bus: MemoryTransport) -> None:
        service = node.create_service(AddTwoInts, "demo/add", lambda r: AddRequest(a=1, b=2))
        meta = p.CallMeta(service="demo/add", call_id="c1", client=b"x")
        raw_header = msgspec.msgpack.encode(Header("t", 0, 0, "demo.AddRequest"))
        await service.handle(meta, raw_header, msgspec.msgpack.encode(AddRequest(a=1, b=2)))
        sent = [frames for frames in bus.control if frames[0] == p.REP]
        reply = msgspec.msgpack.decode(sent[0][1], type=p.ReplyMeta)
        assert reply.status == "error" and "not AddResponse" in reply.error
        # a retried call is answered from the cache, not run again
        await service.handle(meta, raw_header, msgspec.msgpack.encode(AddRequest(a=1, b=2)))
        sent = [frames for frames in bus.control if frames[0] == p.REP]
        assert len(sent) == 2 and sent[0] == sent[1]
