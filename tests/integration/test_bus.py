"""The bus with real processes on real sockets: vtbus, the demo talker and listener, probes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import msgspec
import pytest
import zmq
from helpers.ports import free_port_block

from bus.address import resolve
from bus.errors import ServiceTimeout, ServiceUnavailable
from bus.testing import BusProcess, NodeProcess, Probe
from messages.chat import ChatMessage
from messages.demo import AddRequest, AddTwoInts
from messages.director import Turn

StartNode = Callable[..., NodeProcess]


class TestPubSub:
    async def test_across_processes_in_order_without_gaps(
        self, bus_url: str, start_node: StartNode
    ) -> None:
        start_node("nodes.demo.listener")
        start_node("nodes.demo.talker", params={"rate_hz": 100})
        async with Probe(bus_url) as probe:
            probe.collect("demo/heard")
            await probe.wait_for("demo/heard", count=50)
            headers = [h for h, _ in probe.received["demo/heard"]]
            seqs = [h.seq for h in headers]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            # the listener republished inside its callback: the talker's trace carries through
            assert all(h.trace_id.startswith("talker/demo/count#") for h in headers)

    async def test_latched_late_joiner_gets_the_last_value_once(self, bus_url: str) -> None:
        async with Probe(bus_url, "_early") as early, Probe(bus_url, "_director") as director:
            early.collect("director/turn")
            await director.wait_for_subscribers("director/turn")
            for speaker in ("ann", "bo"):
                director.publish("director/turn", Turn(speaker=speaker))
            await early.wait_for("director/turn", count=2)
            async with Probe(bus_url, "_late") as late:
                late.collect("director/turn")
                await late.wait_for("director/turn")
                await asyncio.sleep(0.8)  # past the late joiner's second look at the registry
                assert [t.speaker for t in late.messages("director/turn")] == ["bo"]
            assert [t.speaker for t in early.messages("director/turn")] == ["ann", "bo"]

    async def test_slow_subscriber_stalls_nobody(self, bus: BusProcess, start_node: StartNode) -> None:
        # a subscriber that never reads, with a tiny queue
        stalled = zmq.Context.instance().socket(zmq.SUB)
        stalled.rcvhwm = 10
        stalled.setsockopt(zmq.SUBSCRIBE, b"")
        stalled.connect(resolve(bus.url).data_out)
        try:
            start_node("nodes.demo.talker", params={"rate_hz": 500, "size": 1000})
            async with Probe(bus.url) as probe:
                probe.collect("demo/count")
                await probe.wait_for("demo/count", count=1000, timeout=20)
                seqs = [h.seq for h, _ in probe.received["demo/count"]]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        finally:
            stalled.close(linger=0)


class TestServices:
    async def test_call(self, bus_url: str, start_node: StartNode) -> None:
        start_node("nodes.demo.listener")
        async with Probe(bus_url) as probe:
            client = probe.create_client(AddTwoInts, "demo/add")
            assert await client.wait_for_service(10)
            assert (await client.call(AddRequest(a=2, b=3))).sum == 5

    async def test_no_server_is_a_clear_error(self, bus_url: str) -> None:
        async with Probe(bus_url) as probe:
            client = probe.create_client(AddTwoInts, "demo/add")
            with pytest.raises(ServiceUnavailable, match="no node serves 'demo/add'"):
                await client.call(AddRequest(a=1, b=1), timeout=0.3, retries=1)

    async def test_server_killed_mid_call_never_hangs(
        self, bus_url: str, start_node: StartNode
    ) -> None:
        server = start_node("nodes.demo.listener")
        async with Probe(bus_url) as probe:
            client = probe.create_client(AddTwoInts, "demo/add")
            assert await client.wait_for_service(10)
            call = asyncio.ensure_future(client.call(AddRequest(a=1, b=2, delay_s=5), timeout=1.0,
                                                     retries=1))
            await asyncio.sleep(0.3)
            server.kill()
            with pytest.raises((ServiceTimeout, ServiceUnavailable)):
                await asyncio.wait_for(call, 10)  # the guard: the call itself must give up
            start_node("nodes.demo.listener")
            assert await client.wait_for_service(10)
            assert (await client.call(AddRequest(a=1, b=2), timeout=2.0)).sum == 3


class TestRestarts:
    async def test_publisher_killed_and_restarted(self, bus_url: str, start_node: StartNode) -> None:
        talker = start_node("nodes.demo.talker", params={"rate_hz": 50})
        async with Probe(bus_url) as probe:
            probe.collect("demo/count")
            # counted well past what the new process can publish before the probe hears it
            # (under CI load its first dozen messages went out before it reached vtbus)
            (before,) = await probe.wait_for("demo/count", where=lambda m: m.value >= 150,
                                             timeout=60)
            talker.kill()
            killed_at = time.time_ns()
            start_node("nodes.demo.talker", params={"rate_hz": 50})
            fresh = await probe.wait_for(
                "demo/count", count=5, timeout=60,
                where=lambda m: probe_stamp(probe, m) > killed_at,
            )
            assert fresh[0].value < before.value  # a new process: its counter began again

    async def test_vtbus_restarted_nodes_rejoin_without_stale_flood(
        self, bus: BusProcess, start_node: StartNode
    ) -> None:
        start_node("nodes.demo.talker", params={"rate_hz": 100})
        start_node("nodes.demo.listener")
        async with Probe(bus.url) as probe:
            probe.collect("demo/heard")
            latest = probe.collect("demo/latest")
            await probe.wait_for("demo/heard", count=10)
            bus.kill()
            down_from = time.time_ns()
            await asyncio.sleep(1.0)
            up_at = time.time_ns()
            bus.start()
            await probe.wait_for_node("talker")
            await probe.wait_for_node("listener")
            await probe.wait_for("demo/heard", where=lambda m: probe_stamp(probe, m) > up_at)
            # nothing queued while the bus was down is delivered late
            stale = [h for h, _ in probe.received["demo/heard"]
                     if down_from + 200_000_000 < h.stamp_ns < up_at]
            assert stale == []
            assert latest  # the latched topic was delivered again after the restart
        async with Probe(bus.url, "_late") as late:  # the new registry holds the latched value
            late.collect("demo/latest")
            await late.wait_for("demo/latest")


def probe_stamp(probe: Probe, msg: object) -> int:
    for topic_messages in probe.received.values():
        for header, received in topic_messages:
            if received is msg:
                return header.stamp_ns
    raise LookupError("message not received by this probe")


class TestBadInput:
    async def test_garbage_everywhere_and_everyone_lives(
        self, bus: BusProcess, start_node: StartNode
    ) -> None:
        listener = start_node("nodes.demo.listener")
        start_node("nodes.demo.talker", params={"rate_hz": 50})
        address = resolve(bus.url)
        async with Probe(bus.url) as probe:
            probe.collect("demo/heard")
            await probe.wait_for("demo/heard", count=3)
            ctx = zmq.Context.instance()
            # 1) not our framing on a data topic, and a wrong type on it
            rogue = ctx.socket(zmq.PUB)
            rogue.connect(address.data_in)
            await asyncio.sleep(0.3)
            for _ in range(5):
                rogue.send_multipart([b"demo/count", b"\x00garbage"])
                rogue.send(b"demo/count just one frame")
            probe.publish("demo/count", ChatMessage(platform="console", user="x", text="wrong"))
            # 2) garbage on the control socket
            dealer = ctx.socket(zmq.DEALER)
            dealer.connect(address.control)
            dealer.send_multipart([b"HB", b"\xc1not msgpack"])
            dealer.send_multipart([b"WHAT"])
            dealer.send(b"")
            # 3) raw bytes that are not even ZMTP, straight into the unix socket
            assert address.folder is not None
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.connect(str(address.folder / "control"))
            raw.sendall(os.urandom(4096))
            raw.close()
            await asyncio.sleep(0.5)
            rogue.close(linger=0)
            dealer.close(linger=0)
            # everyone is still up and the show goes on
            assert bus.proc is not None and bus.proc.poll() is None
            assert listener.proc is not None and listener.proc.poll() is None
            before = len(probe.messages("demo/heard"))
            await probe.wait_for("demo/heard", count=before + 5)
            status = await probe.wait_for_node("listener")

            async def counted() -> bool:
                info = (await probe.wait_for_node("listener")).info
                return info.counters.get("bad_input", 0) >= 2 and info.sub_stats[
                    "demo/count"].errors >= 1

            await wait_until_async(counted)
            assert status.info.pid == listener.pid


async def wait_until_async(check: Callable[[], object], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():  # type: ignore[misc]
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


class TestProcessLifecycle:
    async def test_sigterm_leaves_cleanly_and_at_once(self, bus_url: str,
                                                      start_node: StartNode) -> None:
        talker = start_node("nodes.demo.talker")
        async with Probe(bus_url) as probe:
            await probe.wait_for_node("talker")
            assert talker.stop() == 0

            async def gone() -> bool:
                graph = await probe.graph()
                return all(s.info.name != "talker" for s in graph.nodes)

            await wait_until_async(gone, timeout=1.0)  # BYE, not the 2 s TTL

    async def test_heartbeat_ttl_drops_a_frozen_node(self, bus_url: str,
                                                     start_node: StartNode) -> None:
        talker = start_node("nodes.demo.talker")
        async with Probe(bus_url) as probe:
            await probe.wait_for_node("talker")
            assert talker.proc is not None
            talker.proc.send_signal(signal.SIGSTOP)  # frozen: alive but silent
            try:
                async def gone() -> bool:
                    graph = await probe.graph()
                    return all(s.info.name != "talker" for s in graph.nodes)

                await wait_until_async(gone, timeout=6.0)
            finally:
                talker.proc.send_signal(signal.SIGCONT)

    def test_second_vtbus_on_the_same_folder_is_refused(self, bus: BusProcess) -> None:
        second = subprocess.run(
            [sys.executable, "-m", "bus.vtbus", "--bus", bus.url],
            capture_output=True, text=True, timeout=20,
        )
        assert second.returncode == 2
        assert "another vtbus" in second.stderr and "already serves" in second.stderr

    def test_vtbus_refuses_public_tcp_without_keys(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "bus.vtbus", "--bus", "tcp://0.0.0.0:17990"],
            capture_output=True, text=True, timeout=20,
            env={k: v for k, v in os.environ.items() if k != "VT_BUS_KEYS"},
        )
        assert result.returncode == 2 and "without CURVE keys" in result.stderr

    def test_bad_parameter_on_the_command_line_exits_with_the_reason(self, bus_url: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "nodes.demo.talker", "--bus", bus_url, "-p", "rate_hz:=fast"],
            capture_output=True, text=True, timeout=20,
        )
        assert result.returncode == 1
        assert "node talker: parameter 'rate_hz' expects float, got 'fast'" in result.stderr


class TestCurve:
    async def test_tcp_bus_with_keys(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        keys = tmp_path_factory.mktemp("keys")
        zmq.auth.create_certificates(keys, "server")
        zmq.auth.create_certificates(keys, "client")
        (keys / "authorized").mkdir()
        (keys / "client.key").rename(keys / "authorized" / "client.key")
        port = free_port_block()
        url = f"tcp://127.0.0.1:{port}"
        env = {"VT_BUS_KEYS": str(keys)}
        with BusProcess(url, env=env) as bus:
            talker = NodeProcess("nodes.demo.talker", bus.url, params={"rate_hz": 50},
                                 env=env).start()
            try:
                os.environ["VT_BUS_KEYS"] = str(keys)
                async with Probe(bus.url) as probe:
                    probe.collect("demo/count")
                    await probe.wait_for("demo/count", count=3)
            finally:
                del os.environ["VT_BUS_KEYS"]
                talker.stop()
            # a node without the key never gets through
            async with Probe(bus.url, "_intruder") as intruder:
                intruder.collect("demo/count")
                await asyncio.sleep(1.0)
                assert intruder.messages("demo/count") == []
                with pytest.raises(TimeoutError):
                    await intruder.graph(timeout=0.5)




def test_msgspec_header_is_compact() -> None:
    # the header travels with every message: keep it small
    from messages.base import Header

    assert len(msgspec.msgpack.encode(Header("talker", 1, time.time_ns(), "demo.Count"))) < 40
