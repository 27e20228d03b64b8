"""Services and clients: request/reply through vtbus, with timeouts, retries and replies
cached for retried calls. Made by `bus.node.Node` (``create_service``, ``create_client``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec

from bus import protocol as p
from bus import wire
from bus.errors import ServiceFailed, ServiceTimeout, ServiceUnavailable
from bus.handles import Trace, check_arity, current_trace_var, tag_of, trace_of
from messages.base import Header, Message, ServiceType

if TYPE_CHECKING:
    from bus.node import Node

__all__ = ["Client", "Service"]

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


class Service(Generic[Req, Resp]):
    """Answers calls to one service name; made by `Node.create_service`."""

    def __init__(
        self,
        node: Node,
        srv: ServiceType[Req, Resp],
        name: str,
        callback: Callable[[Req], Resp | Awaitable[Resp]],
    ):
        check_arity(callback, "service", (1,))
        self.node = node
        self.srv = srv
        self.name = name
        self.callback = callback
        self.decoder = msgspec.msgpack.Decoder(srv.request)
        self.count = 0
        # replies kept for retried calls: a retry is answered again, never executed twice
        self._recent: OrderedDict[str, list[bytes] | None] = OrderedDict()

    async def handle(self, meta: p.CallMeta, raw_header: bytes, payload: bytes) -> None:
        if meta.call_id in self._recent:
            cached = self._recent[meta.call_id]
            if cached is not None:
                self.node._control_send(cached)
            return
        self._recent[meta.call_id] = None
        while len(self._recent) > 256:
            self._recent.popitem(last=False)
        reply = p.ReplyMeta(call_id=meta.call_id, client=meta.client)
        body = b""
        try:
            header = wire.decode_header(raw_header)
            current_trace_var.set(trace_of(header))
            request = self.decoder.decode(payload)
            result = self.callback(request)
            if inspect.isawaitable(result):
                result = await result
            if not isinstance(result, self.srv.response):
                raise TypeError(
                    f"handler returned {type(result).__name__}, not {self.srv.response.__name__}"
                )
            body = self.node._encoder.encode(result)
            self.count += 1
        except Exception as exc:
            self.node.log.warning("service %s failed: %s: %s", self.name, type(exc).__name__, exc)
            reply.status = "error"
            reply.error = f"{type(exc).__name__}: {exc}"
        frames = [p.REP, p.encoder.encode(reply), body]
        self._recent[meta.call_id] = frames
        self.node._control_send(frames)


class Client(Generic[Req, Resp]):
    """Calls one service; made by `Node.create_client`. Calls never hang: they time out."""

    def __init__(self, node: Node, srv: ServiceType[Req, Resp], name: str):
        self.node = node
        self.srv = srv
        self.name = name
        self.decoder = msgspec.msgpack.Decoder(srv.response)

    async def call(self, request: Req, *, timeout: float = 2.0, retries: int = 2) -> Resp:
        """Send ``request`` and wait for the response.

        Each try waits ``timeout`` seconds; a call that got no answer, or found no server
        (it may be restarting), is sent again up to ``retries`` times.

        Raises
        ------
        ServiceTimeout
            No answer after every try (the server died, or the bus is down).
        ServiceUnavailable
            No node serves the name.
        ServiceFailed
            The server's handler raised; the message says what it raised.
        """
        if not isinstance(request, self.srv.request):
            raise TypeError(f"{self.name} takes {self.srv.request.__name__}")
        node = self.node
        await node.start()
        call_id = uuid.uuid4().hex
        trace = current_trace_var.get() or Trace(f"{node.name}/call/{call_id[:8]}", time.time_ns())
        header = Header(node.name, 0, time.time_ns(), tag_of(self.srv.request), trace.id,
                        trace.stamp_ns)
        frames = [
            p.CALL,
            p.encoder.encode(p.CallMeta(service=self.name, call_id=call_id)),
            node._encoder.encode(header),
            node._encoder.encode(request),
        ]
        last: p.ReplyMeta | None = None
        try:
            for attempt in range(retries + 1):
                future: asyncio.Future[tuple[p.ReplyMeta, bytes]] = (
                    asyncio.get_running_loop().create_future()
                )
                node._pending_calls[call_id] = future
                try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                    async with asyncio.timeout(timeout):
                        reply, body = await node._send_until(future, frames)
                except TimeoutError:
                    continue
                last = reply
                if last.status == "ok":
                    return self.decoder.decode(body)
                if last.status == "error":
                    raise ServiceFailed(f"service {self.name} failed: {last.error}")
                if attempt < retries:  # no server yet: it may be (re)starting
                    await asyncio.sleep(min(timeout, 0.25))
        finally:
            node._pending_calls.pop(call_id, None)
        if last is not None and last.status == "no_service":
            raise ServiceUnavailable(f"{last.error}: is its node running? (`vtnode list`)")
        raise ServiceTimeout(
            f"service {self.name} did not answer within {timeout} s, {retries + 1} tries"
        )

    async def wait_for_service(self, timeout: float = 5.0) -> bool:
        """True once some node serves the name, False if none does within ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                graph = await self.node.graph(timeout=max(0.05, deadline - loop.time()))
                if any(s.name == self.name for n in graph.nodes for s in n.info.services):
                    return True
            await asyncio.sleep(0.05)
        return False
