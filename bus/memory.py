"""A bus in memory for one node, as httpx's ``MockTransport``: no sockets, no vtbus process.

`MemoryTransport` is a `bus.transport.Transport`. What the node publishes is recorded
(`published`) and reaches the node's own subscriptions, as on a real bus; its control
messages go to a real `bus.vtbus.Broker` (the registry vtbus runs, driven without sockets),
so heartbeats, latched values, ``graph()`` and calls to the node's own services behave as
they do on the bus. A test delivers messages (`deliver`, `deliver_control`) and can stand in
for other nodes' services (`serve`). `bus.testing.NodeHarness` builds a node on one.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec

from bus import protocol as p
from bus.address import resolve
from bus.transport import Deliver
from bus.vtbus import Broker
from messages.base import Message, ServiceType

__all__ = ["MemoryTransport"]

NODE = b"node"
"""The node's identity at the broker (a ROUTER would name its DEALER)."""


class MemoryTransport:
    """The bus of one node, in memory.

    Parameters
    ----------
    subscribers:
        Topic prefixes other nodes subscribe to (``""``: every topic), for
        `Publisher.has_subscribers` and ``wait_for_subscribers``; the node's own
        subscriptions count as well.
    """

    def __init__(self, *, subscribers: Iterable[str] = ("",)):
        self.published: list[list[bytes]] = []
        """Every data message the node sent, ``[topic, header, payload]``, in order."""
        self.control: list[list[bytes]] = []
        """Every control message the node sent to vtbus (`bus.protocol`), in order."""
        # the registry vtbus runs, driven by hand: it never binds, so its address is a name
        self.broker = Broker(resolve("ipc:///tmp/vt-memory"))
        self._outside = {prefix.encode() for prefix in subscribers}
        self._own: set[bytes] = set()
        self._on_data: Deliver | None = None
        self._on_control: Deliver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._served: dict[bytes, tuple[ServiceType[Any, Any], Callable[[Any], Any]]] = {}
        self._in_flight = 0
        self.closed = False

    # ------------------------------------------------------------ the Transport protocol

    def attach(self, on_data: Deliver, on_control: Deliver) -> None:
        self._on_data = on_data
        self._on_control = on_control

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def send_data(self, topic: bytes, header: bytes, payload: bytes) -> bool:
        if self.closed:
            return False
        frames = [topic, header, payload]
        self.published.append(frames)
        if any(topic.startswith(prefix) for prefix in self._own):
            self._later(self._on_data, frames)  # the bus hands it back after a hop, never inline
        return True

    def send_control(self, frames: list[bytes]) -> bool:
        if self.closed:
            return False
        self.control.append(frames)
        self.broker.handle([NODE, *frames], self._from_broker, time.monotonic())
        return True

    def subscribe(self, prefix: bytes) -> None:
        self._own.add(prefix)

    def has_subscribers(self, topic: bytes) -> bool:
        return any(topic.startswith(prefix) for prefix in self._outside | self._own)

    def wake(self) -> None:
        """Nothing to look at: deliveries are scheduled when they happen."""

    def close(self) -> None:
        self.closed = True

    # ------------------------------------------------------------ the test's side

    def deliver(self, frames: list[bytes]) -> None:
        """Hand the node one data message now, as if it came from the bus."""
        assert self._on_data is not None, "no node on this transport"
        self._on_data(frames)

    def deliver_control(self, frames: list[bytes]) -> None:
        """Hand the node one control message now, as if vtbus sent it."""
        assert self._on_control is not None, "no node on this transport"
        self._on_control(frames)

    def deliver_from_registry(self, frames: list[bytes]) -> None:
        """Hand the node one latched message ``[topic, header, payload]`` now, as vtbus's
        registry gives it (its answer to the node's LGET) rather than the bus."""
        topic, header, payload = frames
        meta = p.encoder.encode(p.LatchMeta(topic.decode()))
        self.deliver_control([p.LVAL, meta, header, payload])

    def serve(self, srv: ServiceType[Any, Any], name: str,
              callback: Callable[[Any], Message | Awaitable[Message]]) -> None:
        """Answer the node's calls to ``name`` with ``callback(request)`` (sync or async), as
        another node serving it would."""
        identity = f"serves {name}".encode()
        self._served[identity] = (srv, callback)
        info = p.NodeInfo(name=f"_serves_{name}", pid=0, host="memory", started_ns=0,
                          services=[p.Endpoint(name, srv.name)], hidden=True)
        self.broker.handle([identity, p.HB, p.encoder.encode(info)], lambda frames: True,
                           time.monotonic())

    @property
    def busy(self) -> bool:
        """Whether something is still on its way: a delivery or a served call."""
        return self._in_flight > 0

    # ------------------------------------------------------------ internals

    def _from_broker(self, frames: list[bytes]) -> bool:
        identity, *message = frames
        if identity == NODE:
            self._later(self._on_control, message)
            return True
        served = self._served.get(identity)
        if served is None or message[0] != p.REQ:
            return False
        self._in_flight += 1
        asyncio.get_running_loop().create_task(self._answer(identity, served, message))
        return True

    async def _answer(self, identity: bytes, served: tuple[ServiceType[Any, Any], Callable[[Any], Any]],
                      message: list[bytes]) -> None:
        srv, callback = served
        call = msgspec.msgpack.decode(message[1], type=p.CallMeta)
        reply = p.ReplyMeta(call_id=call.call_id, client=call.client)
        body = b""
        try:
            result = callback(msgspec.msgpack.decode(message[3], type=srv.request))
            if inspect.isawaitable(result):
                result = await result
            body = msgspec.msgpack.encode(result)
        except Exception as exc:  # as a real server answers: the caller gets ServiceFailed
            reply.status, reply.error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self._in_flight -= 1
        self.broker.handle([identity, p.REP, p.encoder.encode(reply), body], self._from_broker,
                           time.monotonic())

    def _later(self, deliver: Deliver | None, frames: list[bytes]) -> None:
        """Deliver on the loop's next turn; with no loop running (a synchronous test) there
        is no next turn, and nothing is delivered."""
        loop = self._loop
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
        if deliver is None:
            return
        self._in_flight += 1

        def now() -> None:
            self._in_flight -= 1
            if not self.closed:
                deliver(frames)

        loop.call_soon(now)
