"""The Node runtime against hostile input (issue 14, items 3 and 4), without a bus: forged
headers, absurd sequence numbers, random topics, forged latched values, periodic tasks that
must outlive their failures."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from bus import protocol as p
from bus import wire
from bus.memory import MemoryTransport
from bus.node import Node, NodeOptions, RawMessage
from bus.testing import wait_until
from messages.base import Header
from messages.demo import Count
from messages.director import Turn

COUNT = msgspec.msgpack.encode(Count(value=1))


@pytest.fixture
def bus() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
async def node(bus: MemoryTransport) -> AsyncIterator[Node]:
    made = Node("unit", options=NodeOptions(heartbeat_s=0.01, transport=bus))
    yield made
    await made.close()


def receive(bus: MemoryTransport, frames: list[bytes], *, from_latch: bool) -> None:
    """One message from the bus, or from the registry as a latched value."""
    (bus.deliver_from_registry if from_latch else bus.deliver)(frames)


def frames(topic: str, header: Any, payload: bytes = COUNT) -> list[bytes]:
    """One message whose header is whatever msgpack ``header`` encodes to."""
    raw = header if isinstance(header, bytes) else msgspec.msgpack.encode(header)
    return [topic.encode(), raw, payload]


class TestForgedHeaders:
    @pytest.mark.parametrize(
        "header",
        [
            b"\x94\xa2\xff\xfe\x00\x00\xa1x",                     # publisher is not UTF-8
            ["talker", -5, 0, "demo.Count"],                      # negative sequence number
            ["talker", 2**64 - 1, 0, "demo.Count"],               # past int64
            ["talker", 0, -1, "demo.Count"],                      # negative stamp
            ["talker", 0, 0, "demo.Count", "t", 2**64 - 1],       # trace stamp past int64
            ["talker", "0", 0, "demo.Count"],                     # wrong type
            7,                                                    # not an array at all
            {"publisher": "talker"},                              # a map
            ["talker" * 20_000, 0, 0, "demo.Count"],              # a huge header frame
        ],
        ids=["utf8", "neg-seq", "seq>int64", "neg-stamp", "trace>int64", "type", "int", "map",
             "huge"],
    )
    def test_is_a_dropped_frame_never_an_exception(
        self, node: Node, bus: MemoryTransport, header: Any
    ) -> None:
        got: list[Count] = []
        node.create_subscription(Count, "demo/count", got.append)
        bus.deliver(frames("demo/count", header))
        assert got == [] and node.counters["bad_input"] == 1

    def test_wrong_frame_counts_are_dropped(self, node: Node, bus: MemoryTransport) -> None:
        node.create_subscription(Count, "demo/count", lambda m: None)
        good = frames("demo/count", ["talker", 0, 0, "demo.Count"])
        bus.deliver([])
        bus.deliver(good[:2])
        bus.deliver([*good, b"extra"])
        assert node.counters["bad_input"] == 3


class TestCountersStayEncodable:
    def test_forged_sequence_numbers_are_not_counted_as_drops(
        self, node: Node, bus: MemoryTransport
    ) -> None:
        sub = node.create_subscription(Count, "demo/count", lambda m: None)
        for _ in range(10):  # the fault: 0 then 2**63-1, again and again, overflowed int64
            for seq in (0, 2**63 - 1):
                bus.deliver(frames("demo/count", ["talker", seq, 0, "demo.Count"]))
        assert sub.stats.count == 20 and sub.stats.dropped == 0
        msgspec.msgpack.decode(p.encoder.encode(node._info()), type=p.NodeInfo)

    def test_a_real_gap_is_still_counted_after_a_forged_one(
        self, node: Node, bus: MemoryTransport
    ) -> None:
        sub = node.create_subscription(Count, "demo/count", lambda m: None)
        for seq in (0, 2**63 - 1, 1, 2, 5):
            bus.deliver(frames("demo/count", ["talker", seq, 0, "demo.Count"]))
        assert sub.stats.dropped == 2


class TestPeriodicTasksNeverDie:
    async def test_the_heartbeat_goes_on_with_a_counter_past_int64(
        self, node: Node, bus: MemoryTransport
    ) -> None:
        sent = bus.control
        node.counters["huge"] = 2**70
        await node.start()
        beats = await wait_until(lambda: len(self._heartbeats(sent)) >= 3 and
                                 self._heartbeats(sent), what="three heartbeats")
        assert beats[-1].counters["huge"] == 2**63 - 1  # clamped, not lost

    async def test_the_heartbeat_goes_on_when_building_it_fails(
        self, node: Node, bus: MemoryTransport
    ) -> None:
        sent = bus.control
        node.counters["broken"] = object()  # type: ignore[assignment]  # a node's bug
        await node.start()
        beats = await wait_until(lambda: len(self._heartbeats(sent)) >= 3 and
                                 self._heartbeats(sent), what="three heartbeats")
        assert beats[-1].name == "unit" and node.counters["callback_errors"] >= 1

    async def test_a_timer_outlives_every_failure_of_its_callback(self, node: Node) -> None:
        calls: list[int] = []

        async def flaky() -> None:
            calls.append(1)
            if len(calls) % 2:
                raise RuntimeError("boom")
            raise asyncio.CancelledError  # e.g. an inner wait_for it did not handle

        node.create_timer(0.01, flaky)
        await node.start()
        await wait_until(lambda: len(calls) >= 6, what="six timer calls")
        assert node.counters["callback_errors"] >= 5

    @staticmethod
    def _heartbeats(sent: list[list[bytes]]) -> list[p.NodeInfo]:
        return [msgspec.msgpack.decode(f[1], type=p.NodeInfo) for f in list(sent) if f[0] == p.HB]


class TestMemoryStaysBounded:
    def test_random_topics_and_publishers_leave_no_trace(
        self, node: Node, bus: MemoryTransport
    ) -> None:
        node.create_subscription(RawMessage, "", lambda m: None, prefix=True)
        node.create_subscription(Count, "demo/count", lambda m: None)

        def flood(start: int, n: int) -> None:
            for i in range(start, start + n):
                topic = f"demo/count{i:x}"
                bus.deliver(frames(topic, [f"p{i}", i, i, "demo.Count"]))
                bus.deliver([topic.encode(), b"\xc1", b""])  # bad_input
                node.report_bad_input(f"n{i}", topic, "a node's own check")

        flood(0, 5_000)  # fills every bounded table once
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            flood(5_000, 30_000)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown < 500_000, f"{grown} bytes kept for 30,000 one-off topics"
        assert node.counters["bad_input"] == 70_000


class TestLatchedCannotBeSilenced:
    """director/turn is latched: a forged value must not hide the real publisher's values."""

    def _turn(self, stamp: int, speaker: str, seq: int = 0, payload: bytes | None = None
              ) -> list[bytes]:
        header = Header("director", seq, stamp, "director.Turn")
        body = payload if payload is not None else msgspec.msgpack.encode(Turn(speaker=speaker))
        return wire.pack("director/turn", header, body)

    @pytest.fixture
    def turns(self, node: Node) -> list[str]:
        got: list[str] = []
        node.create_subscription(Turn, "director/turn", lambda t: got.append(t.speaker))
        return got

    @pytest.mark.parametrize("from_latch", [False, True], ids=["bus", "registry"])
    def test_a_forged_value_that_does_not_decode_is_never_accepted(
        self, node: Node, bus: MemoryTransport, turns: list[str], from_latch: bool
    ) -> None:
        receive(bus, self._turn(2**62, "", payload=b"\xc1forged"), from_latch=from_latch)
        bus.deliver(self._turn(time.time_ns(), "mika", seq=1))
        assert turns == ["mika"] and node.counters["bad_input"] == 1

    @pytest.mark.parametrize("from_latch", [False, True], ids=["bus", "registry"])
    def test_a_future_stamp_does_not_hide_later_values(
        self, node: Node, bus: MemoryTransport, turns: list[str], from_latch: bool
    ) -> None:
        receive(bus, self._turn(2**62, "forged"), from_latch=from_latch)
        real = self._turn(time.time_ns(), "mika", seq=1)
        bus.deliver(real)
        bus.deliver_from_registry(real)  # the registry's copy of it: once only
        assert turns == ["forged", "mika"]

    def test_a_clock_stepped_back_does_not_hide_later_values(
        self, node: Node, bus: MemoryTransport, turns: list[str]
    ) -> None:
        now = time.time_ns()
        bus.deliver(self._turn(now, "mika", seq=0))
        bus.deliver(self._turn(now - 10**9, "rook", seq=1))
        assert turns == ["mika", "rook"]
