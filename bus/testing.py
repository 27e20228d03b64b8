"""Test helpers, in the spirit of dora's MockNode and httpx's MockTransport.

- `NodeHarness` runs a node's callbacks on given messages and records what it publishes:
  most node tests need no bus at all.
- `BusProcess` runs a real vtbus in its own process on a fresh folder; `NodeProcess` runs a
  real node (``python -m nodes.NAME``) on it; `Probe` is an in-test node that publishes,
  collects topics and waits for them with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import zmq

from bus import protocol as p
from bus import wire
from bus.address import resolve
from bus.memory import MemoryTransport
from bus.node import Node, NodeOptions, RawMessage, Trace
from messages.base import Header, Message, ServiceType
from messages.catalog import TOPICS
from messages.system import ParamSetRequest, ParamSetResponse

__all__ = ["BusProcess", "NodeHarness", "NodeProcess", "Probe", "wait_until"]

M = TypeVar("M", bound=Message)


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 5.0, *, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------- no sockets


class NodeHarness:
    """Drive a node with no bus: feed it messages, read what it published, call its services,
    run its timers. The node runs on a `bus.memory.MemoryTransport` (its own subscriptions get
    what it publishes; its heartbeats, latched values and service calls go to a real vtbus
    registry in memory), so nothing here opens a socket.

    Built from a factory (a node class, or anything taking ``options=``), the harness makes
    the node as `bus.run.run` would, starts it (``on_start``, timers, heartbeat) and closes it::

        async with NodeHarness(Talker, parameters={"rate_hz": 50}) as h:
            h.feed("chat/message", ChatMessage(platform="console", user="a", text="hi"))
            await h.settle()
            assert h.messages("chat/say")

    A node already built is moved onto the harness's transport (its sockets close); it is
    started only under ``async with``, else its callbacks run only when fed.

    Parameters
    ----------
    node_or_factory:
        The node, or what builds it.
    parameters, name, remaps:
        The node's options, as a launch file gives them (factory only).
    subscribers:
        Topic prefixes other nodes subscribe to (every topic unless given).
    """

    def __init__(
        self,
        node_or_factory: Node | Callable[..., Node],
        *,
        parameters: Mapping[str, Any] | None = None,
        name: str | None = None,
        remaps: Mapping[str, str] | None = None,
        subscribers: Sequence[str] = ("",),
    ):
        self.transport = MemoryTransport(subscribers=subscribers)
        self._node: Node | None = None
        self._factory: Callable[..., Node] | None = None
        self._options = NodeOptions(name=name, parameters=dict(parameters or {}),
                                    remaps=dict(remaps or {}), transport=self.transport)
        self._seq: dict[str, int] = defaultdict(int)
        self._encoder = msgspec.msgpack.Encoder()
        if isinstance(node_or_factory, Node):
            if parameters or name or remaps:
                raise TypeError("a node already built has its options: give a factory instead")
            self._node = node_or_factory
            self._node.use_transport(self.transport)
            self._node.publish_held_logs()  # as if on the bus already
        else:
            self._factory = node_or_factory

    @property
    def node(self) -> Node:
        if self._node is None:
            raise RuntimeError("the node is built on entering: `async with NodeHarness(...) as h`")
        return self._node

    async def __aenter__(self) -> NodeHarness:
        if self._node is None:
            assert self._factory is not None
            self._node = self._factory(options=self._options)
        await self._node.start()
        self._node.publish_held_logs()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.node.close()

    @property
    def published(self) -> list[tuple[str, Header, Any]]:
        """Everything the node published: (topic, header, message), in order."""
        out = []
        for raw_topic, raw_header, payload in self.transport.published:
            header = wire.decode_header(raw_header)
            out.append((raw_topic.decode(), header, wire.decode_payload(header, payload)))
        return out

    def messages(self, topic: str) -> list[Any]:
        """What the node published on ``topic``, in order."""
        return [msg for t, _, msg in self.published if t == topic]

    def feed(
        self, topic: str, msg: Message, *, publisher: str = "test", trace: Trace | None = None
    ) -> Header:
        """Deliver ``msg`` on ``topic`` now, as if it came from the bus (a synchronous callback
        has run when this returns; `settle` waits for async ones)."""
        stamp = time.time_ns()
        seq = self._seq[topic]
        self._seq[topic] += 1
        trace = trace or Trace(f"{publisher}/{topic}#{seq}", stamp)
        tag = msg.__struct_config__.tag
        header = Header(publisher, seq, stamp, str(tag), trace.id, trace.stamp_ns)
        self.transport.deliver(wire.pack(topic, header, self._encoder.encode(msg)))
        return header

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every async callback has taken what was fed, and what the node sent
        itself (its own topics, its calls' replies) has arrived."""

        def idle() -> bool:
            return not self.transport.busy and all(
                s.backlog == 0 for s in self.node.subscriptions)

        await wait_until(idle, timeout, what="async callbacks to finish")
        await asyncio.sleep(0)

    async def call(self, name: str, request: Message) -> Any:
        """Call the node's service ``name`` directly: its handler's answer, or its exception."""
        service = next((s for s in self.node.services if s.name == name), None)
        if service is None:
            raise KeyError(f"{self.node.name} serves no {name!r}")
        result = service.callback(request)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def set_parameters(self, **values: Any) -> ParamSetResponse:
        """Call the node's ``<name>/set_parameters`` with ``values``, as ``vtparam set`` does."""
        answer: ParamSetResponse = await self.call(f"{self.node.name}/set_parameters",
                                                   ParamSetRequest(values=values))
        return answer

    async def run_timers(self) -> None:
        """Call every timer's callback once now, as its period would (a test does not wait
        for the period): the node's timers in the order they were made."""
        for timer in self.node.timers:
            result = timer.callback()
            if inspect.isawaitable(result):
                await result

    def serve(self, srv: ServiceType[Any, Any], name: str,
              callback: Callable[[Any], Message | Awaitable[Message]]) -> None:
        """Answer the node's calls to another node's service ``name`` (see
        `MemoryTransport.serve`)."""
        self.transport.serve(srv, name, callback)


# ---------------------------------------------------------------------- real processes


def _short_tmp(prefix: str) -> Path:
    # unix socket paths are limited to 107 bytes: pytest's tmp_path is often too long
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


class BusProcess:
    """A real ``vtbus`` process on a fresh ipc folder (or the given URL)."""

    def __init__(self, url: str | None = None, *, ttl_s: float = 3.0,
                 env: Mapping[str, str] | None = None):
        self.folder = None if url else _short_tmp("vt-bus-")
        self.url = url or f"ipc://{self.folder}"
        self.ttl_s = ttl_s
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> BusProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bus.vtbus", "--bus", self.url, "--ttl", str(self.ttl_s)],
            env=self.env,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Ready when the control socket answers a GRAPH request."""
        address = resolve(self.url, keys=self.env.get("VT_BUS_KEYS"))
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"vtbus exited with {self.proc.returncode}")
            sock = ctx.socket(zmq.DEALER)
            sock.linger = 0
            if address.keys is not None:
                address.keys.apply_client(sock)
            sock.connect(address.control)
            sock.send_multipart([p.GRAPH])
            answered = sock.poll(200)
            sock.close()
            if answered:
                return
        raise TimeoutError(f"vtbus on {self.url} did not answer within {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> BusProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NodeProcess:
    """A real node process: ``python -m MODULE --bus URL --name NAME -p k:=v ...``."""

    def __init__(
        self,
        module: str,
        bus_url: str,
        *,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        remaps: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        stdin: int | None = None,
    ):
        self.module = module
        self.name = name
        cmd = [sys.executable, "-m", module, "--bus", bus_url]
        if name:
            cmd += ["--name", name]
        for key, value in (params or {}).items():
            cmd += ["-p", f"{key}:={msgspec.json.encode(value).decode()}"]
        for source, target in (remaps or {}).items():
            cmd += ["-r", f"{source}:={target}"]
        self.cmd = [*cmd, *args]
        self.env = {**os.environ, **(env or {})}
        self.stdin = stdin
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NodeProcess:
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdin=self.stdin)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not leave within ``grace_s``; returns the exit
        status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Probe(Node):
    """A node inside a test: publish anything, collect topics, wait for messages.

    Use as ``async with Probe(bus_url) as probe:``.
    """

    def __init__(self, bus_url: str, name: str = "_probe"):
        super().__init__(name, options=NodeOptions(bus=bus_url, hidden=True, heartbeat_s=0.2))
        self.received: dict[str, list[tuple[Header, Any]]] = defaultdict(list)

    async def __aenter__(self) -> Probe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def collect(self, topic: str, msg_type: type[Message] | None = None) -> list[Any]:
        """Start collecting ``topic`` (typed from the catalogue unless given); returns the list
        of messages that fills as they arrive."""
        kind = msg_type or TOPICS[topic].type
        self.create_subscription(kind, topic, lambda m, h: self.received[topic].append((h, m)))
        return self.received[topic]

    def collect_raw(self, topic: str = "", *, prefix: bool = True) -> list[Any]:
        self.create_subscription(
            RawMessage, topic, lambda m: self.received[m.topic].append((m.header, m)),
            prefix=prefix,
        )
        return self.received[topic]

    def messages(self, topic: str) -> list[Any]:
        return [m for _, m in self.received[topic]]

    async def wait_subscribed(self, topic: str, timeout: float = 10.0) -> None:
        """Wait until this probe's own subscription to ``topic`` went through vtbus: its
        forwarder hands a new subscription to every publisher at once, this node's own
        included, so from then on what others publish on ``topic`` reaches the probe.
        (A topic someone else subscribed to first is not forwarded again: then this returns
        at once.)"""
        await wait_until(lambda: self.has_subscribers(topic), timeout,
                         what=f"the subscription to {topic} to pass through vtbus")

    def publish(self, topic: str, msg: Message) -> Header:
        """Publish ``msg`` on ``topic`` (a publisher is made on first use)."""
        return self.create_publisher(type(msg), topic).publish(msg)

    async def wait_for_subscribers(self, topic: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` other nodes subscribe to ``topic`` (the registry says so) and
        their subscription has reached this node's publisher, so nothing published is lost."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                graph = await self.graph(timeout=0.5)
                found = sum(
                    1 for s in graph.nodes if s.info.name != self.name
                    and any(sub.name == topic for sub in s.info.subscriptions)
                )
                # the registry can list a subscription before it reaches this node's XPUB
                # (one socket for all its publishers, made or not): what is published
                # before then is dropped, so wait for that too
                if found >= count and self.has_subscribers(topic):
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{count} subscriber(s) of {topic} did not appear within {timeout} s")

    async def wait_for(
        self, topic: str, count: int = 1, timeout: float = 10.0,
        where: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """Wait until ``count`` messages (matching ``where``) arrived on ``topic``."""

        def matching() -> list[Any]:
            found = [m for m in self.messages(topic) if where is None or where(m)]
            return found if len(found) >= count else []

        return await wait_until(matching, timeout, what=f"{count} message(s) on {topic}")

    async def wait_for_process(self, node: NodeProcess, subscribed: Sequence[str],
                               timeout: float = 60.0) -> None:
        """Until the registry lists this very process (a killed one under the same name may
        linger until its TTL) subscribed to ``subscribed``, and those subscriptions reach
        this probe's publishers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            assert node.proc is not None and node.proc.poll() is None, "the node died"
            with contextlib.suppress(TimeoutError):
                graph = await self.graph(timeout=0.5)
                if any(status.info.pid == node.pid
                       and set(subscribed) <= {s.name for s in status.info.subscriptions}
                       for status in graph.nodes):
                    for topic in subscribed:
                        await self.wait_for_subscribers(
                            topic, timeout=max(0.1, deadline - loop.time()))
                    return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{node.module} pid {node.pid} did not join within {timeout} s")

    async def wait_for_node(self, name: str, timeout: float = 10.0) -> p.NodeStatus:
        """Wait until the registry lists ``name``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                graph = await self.graph(timeout=0.5)
                for status in graph.nodes:
                    if status.info.name == name:
                        return status
            await asyncio.sleep(0.05)
        raise TimeoutError(f"node {name} did not join the bus within {timeout} s")
