"""Hostile frames against real processes (issue 14, items 3-5): one bad control message must
not end vtbus, forged headers must not silence a node, a forged latched value must not
silence a latched topic."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
import zmq
from fakes.hostile import HOSTILE

from bus import protocol as p
from bus.address import resolve
from bus.testing import BusProcess, NodeProcess, Probe
from messages.demo import Count
from messages.director import Turn

StartNode = Callable[..., NodeProcess]
COUNT = msgspec.msgpack.encode(Count(value=1))


@pytest.fixture
def rogue(bus: BusProcess) -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    """A raw PUB into vtbus's data path and a raw DEALER on its control socket."""
    address = resolve(bus.url)
    ctx = zmq.Context()
    pub, dealer = ctx.socket(zmq.PUB), ctx.socket(zmq.DEALER)
    pub.connect(address.data_in)
    dealer.connect(address.control)
    yield pub, dealer
    pub.close(linger=0)
    dealer.close(linger=0)
    ctx.term()


def enc(obj: object) -> bytes:
    return msgspec.msgpack.encode(obj)


async def registered_pid(probe: Probe, name: str) -> int:
    """The pid the registry lists for ``name``, once its heartbeat is fresh."""
    status = await probe.wait_for_node(name)
    while status.heartbeat_age_s > 1.5:
        await asyncio.sleep(0.1)
        status = await probe.wait_for_node(name)
    return status.info.pid


class TestControlMessages:
    # each of these ended vtbus (TypeError / KeyError / AttributeError out of its loop)
    BAD = [
        [p.LATCH, enc(p.LatchMeta("director/turn")), enc(7), b"x"],          # header an int
        [p.LATCH, enc(p.LatchMeta("director/turn")), enc({"a": 1}), b"x"],   # header a map
        [p.LATCH, enc(p.LatchMeta("director/turn")), enc([]), b"x"],         # header empty
        [p.LATCH, enc(["t"]), b"\x94", b"x"],                                # meta truncated
        [p.LATCH, enc(p.LatchMeta("t"))],                                    # frames missing
        [p.HB, enc({"name": 5})],
        [p.HB, enc(7), b"x", b"y"],
        [p.CALL, enc({"service": "x", "call_id": 1})],
        [p.REP, enc(p.ReplyMeta(call_id="x", client=b"nobody"))],
        [p.LGET, b"\xff" * 3],
        [p.GRAPH, b"junk"],
        [p.BYE, b"junk"],
    ]

    async def test_vtbus_survives_every_one(
        self, bus: BusProcess, rogue: tuple[zmq.Socket, zmq.Socket], start_node: StartNode
    ) -> None:
        listener = start_node("nodes.demo.listener")
        _, dealer = rogue
        async with Probe(bus.url) as probe:
            pid = await registered_pid(probe, "listener")
            for frames in self.BAD:
                dealer.send_multipart(frames)
            await asyncio.sleep(0.5)
            assert bus.proc is not None and bus.proc.poll() is None, "vtbus ended"
            assert await registered_pid(probe, "listener") == pid == listener.pid


class TestForgedHeaders:
    async def test_a_listener_keeps_its_heartbeat_and_its_hearing(
        self, bus: BusProcess, rogue: tuple[zmq.Socket, zmq.Socket], start_node: StartNode
    ) -> None:
        listener = start_node("nodes.demo.listener")
        start_node("nodes.demo.talker", params={"rate_hz": 50})
        pub, _ = rogue
        async with Probe(bus.url) as probe:
            probe.collect("demo/heard")
            await probe.wait_for("demo/heard", count=3, timeout=20)
            for _ in range(200):  # forged seq numbers overflowed the drop counter; bad UTF-8
                for seq in (-5, 0, 2**63 - 1):
                    pub.send_multipart([b"demo/count", enc(["talker", seq, 0, "demo.Count"]), COUNT])
                pub.send_multipart([b"demo/count", b"\x94\xa2\xff\xfe\x00\x00\xa1x", COUNT])
            await asyncio.sleep(bus.ttl_s * 2)  # long enough for a dead heartbeat to show
            assert await registered_pid(probe, "listener") == listener.pid
            heard = len(probe.messages("demo/heard"))
            await probe.wait_for("demo/heard", count=heard + 10, timeout=20)


class TestForgedLatched:
    async def test_a_forged_value_silences_no_subscriber(
        self, bus: BusProcess, rogue: tuple[zmq.Socket, zmq.Socket]
    ) -> None:
        pub, dealer = rogue
        async with Probe(bus.url, "director") as director, Probe(bus.url, "_early") as early:
            turns = early.collect("director/turn")
            await early.wait_subscribed("director/turn")
            director.publish("director/turn", Turn(speaker="mika"))
            await early.wait_for("director/turn")
            # forged as the director, stamped far in the future, on the bus and to the registry
            forged = enc(["director", 10**6, 2**62, "director.Turn"])
            pub.send_multipart([b"director/turn", forged, b"\xc1not a turn"])
            dealer.send_multipart([p.LATCH, enc(p.LatchMeta("director/turn")), forged,
                                   b"\xc1not a turn"])
            await asyncio.sleep(0.5)
            director.publish("director/turn", Turn(speaker="rook"))
            await early.wait_for("director/turn", where=lambda t: t.speaker == "rook")
            async with Probe(bus.url, "_late") as late:  # a late joiner: from the registry
                late.collect("director/turn")
                (turn,) = await late.wait_for("director/turn")
                assert turn.speaker == "rook"
                await asyncio.sleep(0.5)  # the second registry ask brings nothing new
                assert late.messages("director/turn") == [turn]
            assert [t.speaker for _, t in turns] == ["mika", "rook"]


async def test_vtbus_answers_after_the_burst(bus: BusProcess,
                                             rogue: tuple[zmq.Socket, zmq.Socket]) -> None:
    """Many random control messages in a row: vtbus still answers a graph request."""
    _, dealer = rogue
    rng = random.Random(14)
    for _ in range(5_000):
        kind = rng.choice([p.HB, p.LATCH, p.LGET, p.CALL, p.REP, p.GRAPH, p.BYE, b"?"])
        dealer.send_multipart([kind, *(rng.randbytes(rng.randrange(0, 40))
                                       for _ in range(rng.randrange(0, 5)))])
    async with Probe(bus.url) as probe:
        graph = await probe.graph(timeout=10)
        assert graph.epoch
    assert bus.proc is not None and bus.proc.poll() is None


async def test_a_hostile_node_name_is_logged_escaped(tmp_path: Path) -> None:
    """vtbus logs who joins: a name that holds escape sequences and CR LF stays one line."""
    log_file = tmp_path / "vtbus.log"
    with open(log_file, "wb") as out:
        bus = BusProcess()
        bus.proc = subprocess.Popen(
            [sys.executable, "-m", "bus.vtbus", "--bus", bus.url], stderr=out)
        try:
            bus._wait_ready(10)
            address = resolve(bus.url)
            ctx = zmq.Context()
            dealer = ctx.socket(zmq.DEALER)
            dealer.connect(address.control)
            info = p.NodeInfo(name=HOSTILE, pid=1, host="h", started_ns=0)
            dealer.send_multipart([p.HB, enc(info)])
            assert dealer.poll(10_000), "vtbus did not answer the heartbeat"
            dealer.close(linger=0)
            ctx.term()
        finally:
            bus.stop()
    text = log_file.read_text()
    assert "node \\x1b[31mmika" in text and "\x1b" not in text and "\r" not in text
    assert not any(line.startswith("12:00:00") for line in text.splitlines())
