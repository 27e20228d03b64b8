"""How a node reaches the bus: one small `Transport` protocol, and `ZmqTransport`, the real one.

A node hands its transport two callbacks (`Transport.attach`) and from then on only sends:
data frames ``[topic, header, payload]`` out, control frames (heartbeats, latched values,
service calls: `bus.protocol`) to vtbus, and the topic prefixes it subscribes to. What
arrives comes back through the callbacks. Tests put a node on `bus.memory.MemoryTransport`
instead (as httpx's ``MockTransport``): no sockets, and what the node publishes is recorded.

`ZmqTransport` owns three sockets, all *connected* to vtbus: an XPUB (data out), a SUB (data
in) and a DEALER (the registry, latched values, services). They are plain pyzmq sockets read
from the asyncio loop's reader callbacks, so a message reaches a synchronous callback with no
task or future in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import zmq

from bus import wire
from bus.address import BusAddress
from bus.bounded import MAX_TRACKED

__all__ = ["PUB_HWM", "SUB_HWM", "Deliver", "Transport", "ZmqTransport"]

Deliver = Callable[[list[bytes]], None]
"""Takes one message's frames; never raises (the node counts and drops what is not ours)."""

PUB_HWM = 1_000_000
SUB_HWM = 100_000

# pyzmq's send_multipart/recv_multipart cost about twice the Cython calls underneath them
# (measured here: 9.7 vs 4.8 us to send three frames); the hot path calls these directly.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get
_MORE_NOBLOCK = zmq.SNDMORE | zmq.NOBLOCK


class Transport(Protocol):
    """A node's connection to the bus: what `bus.node.Node` needs, nothing more."""

    def attach(self, on_data: Deliver, on_control: Deliver) -> None:
        """Where arriving messages go: data ``[topic, header, payload]`` and control frames
        (``[kind, meta, *frames]``, `bus.protocol`). Called once, by the node, before anything
        is sent."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` from now on (the node starts)."""

    def send_data(self, topic: bytes, header: bytes, payload: bytes) -> bool:
        """Publish one message now, never blocking; False when it was dropped (a full queue)."""

    def send_control(self, frames: list[bytes]) -> bool:
        """Send one control message to vtbus now; False when it cannot go (no bus connected
        right now, or the transport is closed): heartbeats and retries cover it."""

    def subscribe(self, prefix: bytes) -> None:
        """Receive the topics that start with ``prefix`` (``b""``: every topic)."""

    def has_subscribers(self, topic: bytes) -> bool:
        """Whether some node (this one included) subscribes to ``topic`` right now."""

    def wake(self) -> None:
        """Look for arrivals again soon: a readiness signal may have been missed."""

    def close(self) -> None:
        """Stop delivering and let go of the bus; what is queued out gets a short while."""


class ZmqTransport:
    """The bus over ZeroMQ: three sockets connected to vtbus at ``address``.

    Every socket sets ``IMMEDIATE=1``, so nothing queues towards a dead vtbus (a restarted one
    would otherwise get a flood of stale messages: about 1 s worth, seen here).
    """

    def __init__(self, address: BusAddress):
        self.address = address
        self._ctx = zmq.Context()
        # an XPUB, not a PUB: it also hears which topics someone subscribes to (through vtbus),
        # so a publisher can wait for its first subscriber instead of losing its first messages
        self._pub = self._connect(zmq.XPUB, address.data_in, hwm=PUB_HWM)
        self._wanted: set[bytes] = set()
        """Topic prefixes subscribed downstream, as vtbus forwarded them."""
        self._sub = self._connect(zmq.SUB, address.data_out, hwm=SUB_HWM)
        self._control = self._connect(zmq.DEALER, address.control, hwm=10_000)
        self._on_data: Deliver = _unattached
        self._on_control: Deliver = _unattached
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def _connect(self, kind: int, endpoint: str, *, hwm: int) -> zmq.Socket:
        sock = self._ctx.socket(kind)
        sock.sndhwm = hwm
        sock.rcvhwm = hwm
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.reconnect_ivl = 50
        sock.reconnect_ivl_max = 1000
        if self.address.keys is not None:
            self.address.keys.apply_client(sock)
        sock.connect(endpoint)
        return sock

    def attach(self, on_data: Deliver, on_control: Deliver) -> None:
        self._on_data = on_data
        self._on_control = on_control

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._sub, self._drain_sub)
        loop.add_reader(self._control, self._drain_control)
        loop.add_reader(self._pub, self._drain_pub)
        self.wake()

    def send_data(self, topic: bytes, header: bytes, payload: bytes) -> bool:
        sock = self._pub
        try:  # an XPUB drops a whole message at its queue limit rather than block or split it
            _send(sock, topic, _MORE_NOBLOCK)
            _send(sock, header, _MORE_NOBLOCK)
            _send(sock, payload, zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def send_control(self, frames: list[bytes]) -> bool:
        if self._closed:
            return False
        try:
            self._control.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError:  # no bus connected right now (Again), or the socket is gone
            return False
        finally:
            self.wake()

    def subscribe(self, prefix: bytes) -> None:
        self._sub.setsockopt(zmq.SUBSCRIBE, prefix)
        self.wake()

    def has_subscribers(self, topic: bytes) -> bool:
        self._drain_pub()  # publishing may have swallowed the reader's wake-up: look now
        return any(topic.startswith(prefix) for prefix in self._wanted)

    def wake(self) -> None:
        """Re-check the sockets soon: a setsockopt or a send can swallow the FD's edge."""
        if self._loop is not None and not self._closed:
            self._loop.call_soon(self._drain_sub)
            self._loop.call_soon(self._drain_control)
            self._loop.call_soon(self._drain_pub)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            for sock in (self._sub, self._control, self._pub):
                self._loop.remove_reader(sock)
        self._sub.close(linger=0)
        self._control.close(linger=100)
        self._pub.close(linger=200)
        self._ctx.term()

    # ------------------------------------------------------------ readers

    def _drain_pub(self) -> None:
        """Track subscriptions arriving on the XPUB: ``\x01prefix`` or ``\x00prefix``."""
        while not self._closed:
            try:
                event = self._pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if event[:1] == b"\x01":
                # any socket on the bus may subscribe to anything: bounded, as MAX_TRACKED says
                if len(self._wanted) < MAX_TRACKED and len(event) <= wire.MAX_TOPIC_BYTES:
                    self._wanted.add(event[1:])
            elif event[:1] == b"\x00":
                self._wanted.discard(event[1:])

    def _drain_sub(self, budget: int = 2000) -> None:
        sock = self._sub
        on_data = self._on_data
        for _ in range(budget):
            if self._closed:
                return
            try:
                frames = [_recv(sock, zmq.NOBLOCK)]
            except zmq.Again:
                return
            while _get(sock, zmq.RCVMORE):  # the rest of a message is already here
                frames.append(_recv(sock, zmq.NOBLOCK))
            on_data(frames)
        if self._loop is not None:  # more waiting: yield to the loop, then carry on
            self._loop.call_soon(self._drain_sub)

    def _drain_control(self) -> None:
        sock = self._control
        while not self._closed:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._on_control(frames)


def _unattached(frames: list[bytes]) -> None:
    raise RuntimeError("a transport delivered before a node attached to it")
