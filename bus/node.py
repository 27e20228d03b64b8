"""The Node runtime: typed publishers, subscriptions, timers, services and parameters on asyncio.

The API follows rclpy: ``create_publisher(type, topic)``, ``create_subscription(type, topic,
callback)``, ``create_timer(period, callback)``, ``create_service(srv, name, callback)``,
``create_client(srv, name)``; required arguments positional, options keyword-only, a handle
returned, callbacks checked when they are registered.

A node reaches the bus through its `bus.transport.Transport`: by default three ZeroMQ sockets
connected to vtbus, read from the asyncio loop's reader callbacks, so a message reaches a
synchronous callback with no task or future in between; in tests a
`bus.memory.MemoryTransport`, with no sockets at all. The handles it gives out live in
`bus.handles` (publishers, subscriptions, timers) and `bus.services` (services, clients).

Traces: while a callback runs, the trace of the message it handles is the *current trace*
(a context variable), and everything the node publishes from there carries it, so the whole
chain chat message -> sentence -> audio can be measured from a bag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from bus import protocol as p
from bus.address import BusAddress, resolve
from bus.bounded import LogLimiter, clamp_int64, release_freed_memory
from bus.buslog import BusLogHandler
from bus.delivery import Delivery
from bus.errors import WireError
from bus.handles import (
    Publisher,
    RawMessage,
    Subscription,
    Timer,
    Trace,
    check_arity,
    current_trace_var,
    latched_topic,
)
from bus.params import Parameters, ParameterStore, SetCallback
from bus.services import Client, Service
from bus.transport import Transport, ZmqTransport
from messages.base import Message, ServiceType
from messages.system import (
    GetParameters,
    LogEvent,
    ParamGetRequest,
    ParamGetResponse,
    ParamSetRequest,
    ParamSetResponse,
    SetParameters,
)

__all__ = [
    "LATE_LATCH_RECHECK_S",
    "Client",
    "Node",
    "NodeOptions",
    "Publisher",
    "RawMessage",
    "Service",
    "Subscription",
    "Timer",
    "Trace",
]

M = TypeVar("M", bound=Message)
P = TypeVar("P", bound=Parameters)
T = TypeVar("T")
Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)

LATE_LATCH_RECHECK_S = 0.3
"""A late joiner asks for latched values when it subscribes and once more after this delay,
covering a value published while its subscription was still travelling to the publishers."""
CLOSE_TIMEOUT_S = 5.0
"""How long `Node.close` waits for its cancelled tasks (supervisord's stop timeout is 5 s too)."""
RELEASE_EVERY_S = 10.0
"""How often the heartbeat gives freed memory back (`bus.bounded.release_freed_memory`)."""


@dataclass
class NodeOptions:
    """How a node is started: everything the launch file or command line can set."""

    bus: str | None = None
    name: str | None = None
    """Overrides the node's own default name."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    remaps: Mapping[str, str] = field(default_factory=dict)
    hidden: bool = False
    """Tools' nodes: listed only by ``vtnode list --all``."""
    heartbeat_s: float = 1.0
    transport: Transport | None = None
    """The node's connection to the bus; None: ZeroMQ to ``bus`` (`bus.transport`). Tests
    give a `bus.memory.MemoryTransport`: no sockets."""


class Node:
    """Base of every node. Subclasses wire topics in ``__init__`` and let `run` spin them.

    Parameters
    ----------
    name:
        The node's default name (``NodeOptions.name`` overrides it).
    options:
        Bus URL, parameter overrides, remaps (from the launch file or command line).
    """

    def __init__(self, name: str, *, options: NodeOptions | None = None):
        options = options or NodeOptions()
        self.name = options.name or name
        self.options = options
        self.address: BusAddress = resolve(options.bus)
        self.log = logging.getLogger(self.name)
        self.parameters = ParameterStore(self.name, options.parameters)
        """Every declared parameter (`declare_parameters`), served to ``vtparam``."""
        self.counters: Counter[str] = Counter()
        """Node-defined counts (drops, decisions), shown by ``vtnode info``."""
        self.started_ns = time.time_ns()
        self._loading = ""
        self._encoder = msgspec.msgpack.Encoder()
        self._publishers: dict[str, Publisher[Any]] = {}
        self._subscriptions: list[Subscription] = []
        self._subscribed_prefixes: set[str] = set()
        self._services: dict[str, Service[Any, Any]] = {}
        self._clients: dict[str, Client[Any, Any]] = {}
        self._timers: list[Timer] = []
        self._pending_calls: dict[str, asyncio.Future[tuple[p.ReplyMeta, bytes]]] = {}
        self._graph_waiters: list[asyncio.Future[p.Graph]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._delivery = Delivery(self._subscriptions, self.report_bad_input)
        self._bad_log = LogLimiter()
        self._failure_log = LogLimiter()
        self._epoch = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._closed = False
        self._rate_mark = time.monotonic()
        self._rate_counts: dict[int, int] = {}
        self._transport: Transport
        self.use_transport(options.transport or ZmqTransport(self.address))
        self._log_pub = self.create_publisher(LogEvent, "system/log")
        self._bus_log = BusLogHandler(self.name, self._log_pub, lambda: self._closed)
        self.log.addHandler(self._bus_log)
        self.create_service(GetParameters, f"{self.name}/get_parameters", self._get_parameters)
        self.create_service(SetParameters, f"{self.name}/set_parameters", self._set_parameters)

    # ------------------------------------------------------------ public API

    @property
    def loading(self) -> str:
        """What the node still prepares before it can do its work ('' ready: `set_loading`)."""
        return self._loading

    def set_loading(self, what: str) -> None:
        """Say in the registry what the node is still preparing ("voices", "model"), or ''
        once it is ready: vtlaunch counts the show up, and the director greets, only when
        every node is ready. A node that never calls this is ready once it is on the bus."""
        if what != self._loading:
            self._loading = what
            self._graph_changed()

    def declare_parameters(self, cls: type[P]) -> P:
        """Declare the parameters of ``cls`` (a `bus.params.Parameters`, usually the node's
        ``Params``) and return them filled from the launch file or command line.

        The instance is live: ``vtparam set`` updates its fields in place, so read
        ``self.params.NAME`` where the value is used; ``at_start`` fields are never set.
        """
        return self.parameters.declare(cls)

    def get_parameter(self, name: str) -> Any:
        return self.parameters.get(name)

    def add_on_set_parameters_callback(self, callback: SetCallback) -> None:
        """Validate (and react to) run-time changes; see `bus.params.SetCallback`."""
        check_arity(callback, "parameter", (1,))
        self.parameters.add_on_set(callback)

    def create_publisher(
        self, msg_type: type[M], topic: str, *, latched: bool | None = None
    ) -> Publisher[M]:
        """A publisher of ``msg_type`` on ``topic`` (remapped); latched as the catalogue says
        unless ``latched`` is given."""
        topic = self.resolve_name(topic)
        if topic in self._publishers:
            existing = self._publishers[topic]
            if existing.msg_type is not msg_type:
                raise TypeError(f"{topic} already publishes {existing.msg_type.__name__}")
            return existing
        pub = Publisher(self, msg_type, topic, latched_topic(topic) if latched is None else latched)
        self._publishers[topic] = pub
        self._graph_changed()
        return pub

    def create_raw_publisher(
        self, topic: str, type_tag: str, *, latched: bool | None = None
    ) -> Publisher[Any]:
        """A publisher of payloads already encoded as ``type_tag`` (use its ``publish_raw``):
        bag playback republishes recorded bytes, even of a type this build does not know."""
        topic = self.resolve_name(topic)
        existing = self._publishers.get(topic)
        if existing is not None:
            if existing.type_tag != type_tag:
                raise TypeError(f"{topic} already publishes {existing.type_tag}")
            return existing
        pub: Publisher[Any] = Publisher(self, Message, topic,
                                        latched_topic(topic) if latched is None else latched,
                                        type_tag=type_tag)
        self._publishers[topic] = pub
        self._graph_changed()
        return pub

    def create_subscription(
        self,
        msg_type: type[M] | type[RawMessage],
        topic: str,
        callback: Callable[..., Any],
        *,
        prefix: bool = False,
        latched: bool | None = None,
        queue_size: int = 1000,
    ) -> Subscription:
        """Call ``callback(msg)`` or ``callback(msg, header)`` for each message on ``topic``.

        ``msg_type=RawMessage`` delivers undecoded messages; ``prefix=True`` matches every
        topic that starts with ``topic`` (``""`` is every topic). Async callbacks run in order,
        one at a time; when ``queue_size`` messages wait, the oldest is dropped and counted.
        """
        topic = self.resolve_name(topic)
        sub = Subscription(
            self, msg_type, topic, callback, prefix=prefix,
            latched=latched_topic(topic) if latched is None else latched, queue_size=queue_size,
        )
        self._subscriptions.append(sub)
        self._delivery.changed()
        if topic not in self._subscribed_prefixes:
            self._subscribed_prefixes.add(topic)
            self._transport.subscribe(topic.encode())
        if sub.latched and self._loop is not None:
            self._ask_latched(topic)
        self._graph_changed()
        return sub

    def create_timer(self, period_s: float, callback: Callable[[], Any]) -> Timer:
        """Call ``callback()`` (sync or async) every ``period_s`` seconds once the node spins."""
        timer = Timer(self, period_s, callback)
        self._timers.append(timer)
        if self._loop is not None:
            timer.start()
        return timer

    def create_service(
        self,
        srv: ServiceType[Req, Resp],
        name: str,
        callback: Callable[[Req], Resp | Awaitable[Resp]],
    ) -> Service[Req, Resp]:
        """Answer calls to ``name`` with ``callback(request) -> response`` (sync or async)."""
        name = self.resolve_name(name)
        service = Service(self, srv, name, callback)
        self._services[name] = service
        self._graph_changed()
        return service

    def create_client(self, srv: ServiceType[Req, Resp], name: str) -> Client[Req, Resp]:
        name = self.resolve_name(name)
        client = Client(self, srv, name)
        self._clients[name] = client
        self._graph_changed()
        return client

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    @property
    def services(self) -> tuple[Service[Any, Any], ...]:
        return tuple(self._services.values())

    @property
    def timers(self) -> tuple[Timer, ...]:
        return tuple(self._timers)

    def resolve_name(self, name: str) -> str:
        """The topic or service name after the launch file's remaps."""
        return self.options.remaps.get(name, name)

    @staticmethod
    def current_trace() -> Trace | None:
        """The trace of the message being handled, if any."""
        return current_trace_var.get()

    @staticmethod
    @contextlib.contextmanager
    def traced(trace: Trace | None) -> Iterator[None]:
        """Publish inside this block as part of ``trace`` (for work that outlives a callback)."""
        token = current_trace_var.set(trace)
        try:
            yield
        finally:
            current_trace_var.reset(token)

    async def graph(self, timeout: float = 1.0) -> p.Graph:
        """Ask vtbus for every live node (raises TimeoutError when the bus does not answer)."""
        await self.start()
        future: asyncio.Future[p.Graph] = asyncio.get_running_loop().create_future()
        self._graph_waiters.append(future)
        heartbeat = [p.HB, p.encoder.encode(self._info())]  # first, so the graph includes us
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # arrives as the graph does, and the node's close then waited on its timer task
            # ("ignored their cancel within 5 s": the director SIGKILLed at a show's end)
            async with asyncio.timeout(timeout):
                return await self._send_until(future, heartbeat, [p.GRAPH])
        finally:
            if future in self._graph_waiters:
                self._graph_waiters.remove(future)

    async def _send_until(self, future: asyncio.Future[T], *messages: list[bytes]) -> T:
        """Send on the control socket, retrying while no connection to vtbus is up yet
        (IMMEDIATE refuses to queue), then wait for ``future``."""
        for frames in messages:
            while not self._control_send(frames):
                await asyncio.sleep(0.02)
        return await future

    def create_task(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` on the node's loop as a task the node owns: it is cancelled (and
        awaited) when the node closes, so nothing it started outlives it."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def on_start(self) -> None:
        """Override to start the node's own work once it is on its loop (workers, devices,
        connections: use `create_task`); called once by `start`, after the bus is attached.
        An exception here ends the node as a failed start."""

    async def start(self) -> None:
        """Attach to the running loop: readers, heartbeat, timers, then `on_start`.
        Idempotent."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._transport.start(self._loop)
        # the launch check refuses these before a node with a declaration starts
        self.parameters.refuse_unknown_overrides()
        self.create_task(self._heartbeat_loop(), "heartbeat")
        for timer in self._timers:
            timer.start()
        for sub in self._subscriptions:
            if sub.latched:
                self._ask_latched(sub.topic)
        await self.on_start()

    async def spin(self) -> None:
        """Run until `shutdown` (SIGINT/SIGTERM under `run`)."""
        await self.start()
        assert self._stopping is not None
        await self._stopping.wait()

    def shutdown(self) -> None:
        """Ask `spin` to return."""
        if self._stopping is not None:
            self._stopping.set()

    async def on_shutdown(self) -> None:
        """Override to release devices and flush state; called once by `close`."""

    async def close(self) -> None:
        """Leave the bus: say goodbye, stop tasks, close sockets."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.on_shutdown()
        except Exception:
            self.log.exception("on_shutdown failed")
        self._transport.send_control([p.BYE])
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:  # a task that swallows its cancel must not keep the node from exiting
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if stuck:
                self.log.warning("closing without %d task(s) that ignored their cancel "
                                 "within %g s: %s", len(stuck), CLOSE_TIMEOUT_S,
                                 ", ".join(sorted(t.get_name() for t in stuck)))
        self._transport.close()

    def use_transport(self, transport: Transport) -> None:
        """Put the node on ``transport`` before it starts, closing the one it had:
        `bus.testing.NodeHarness` moves a node built on sockets onto a `MemoryTransport`."""
        if self._loop is not None:
            raise RuntimeError(f"node {self.name} has started: its transport stays")
        previous = getattr(self, "_transport", None)
        self._transport = transport
        self._send_data = transport.send_data
        """The publishers' hot path: the transport's own bound method, one call a message."""
        transport.attach(self._receive, self._handle_control)
        for prefix in self._subscribed_prefixes:
            transport.subscribe(prefix.encode())
        if previous is not None:
            previous.close()

    def publish_held_logs(self) -> None:
        """Publish now the warnings and errors logged before the node was on the bus (held
        until then, or they would be lost), and every one from now on as it comes. The
        heartbeat does this once vtbus answers; `bus.run.run` does it for a node that fails
        before it gets there, `bus.testing.NodeHarness` for a node it drives."""
        self._bus_log.publish_held()

    def has_subscribers(self, topic: str) -> bool:
        """Whether any node subscribes to ``topic`` right now (as seen from this publisher)."""
        return self._transport.has_subscribers(topic.encode())

    # ------------------------------------------------------------ internals

    def _control_send(self, frames: list[bytes]) -> bool:
        if self._closed:
            return False
        return self._transport.send_control(frames)

    def _send_latched(self, topic: str, header_payload: list[bytes]) -> None:
        self._control_send([p.LATCH, p.encoder.encode(p.LatchMeta(topic)), *header_payload])

    def _ask_latched(self, topic: str) -> None:
        ask = [p.LGET, p.encoder.encode(p.LatchMeta(topic))]
        self._control_send(ask)
        if self._loop is not None:
            self._loop.call_later(LATE_LATCH_RECHECK_S, self._control_send, ask)

    def _receive(self, frames: list[bytes]) -> None:
        """One data message from the transport; never raises."""
        if self._closed:
            return
        try:
            self._delivery.dispatch(frames, from_latch=False)
        except Exception:  # never leave messages unread: the FD only signals new ones
            self.report_callback_failure("receive")

    def _handle_control(self, frames: list[bytes]) -> None:
        """One message from vtbus; never raises (what is not ours is counted and dropped)."""
        if self._closed:
            return
        try:
            self._on_control(frames)
        except (msgspec.DecodeError, UnicodeDecodeError, IndexError, WireError) as exc:
            self.report_bad_input("vtbus", "control", str(exc))
        except Exception:  # never leave messages unread: the FD only signals new ones
            self.report_callback_failure("control message")

    def _on_control(self, frames: list[bytes]) -> None:
        kind = frames[0]
        if kind == p.HB:
            hello = msgspec.msgpack.decode(frames[1], type=p.BusHello)
            if hello.epoch != self._epoch:
                if self._epoch:
                    self.log.info("vtbus restarted (epoch %s): re-sending latched values",
                                  hello.epoch)
                self._epoch = hello.epoch
                for pub in self._publishers.values():
                    pub.resend_latched()
                for topic in {s.topic for s in self._subscriptions if s.latched}:
                    self._ask_latched(topic)
        elif kind == p.LVAL:
            meta = msgspec.msgpack.decode(frames[1], type=p.LatchMeta)
            rest = frames[2:]
            for i in range(0, len(rest) - 1, 2):
                self._delivery.dispatch([meta.topic.encode(), rest[i], rest[i + 1]],
                                        from_latch=True)
        elif kind == p.REQ:
            call = msgspec.msgpack.decode(frames[1], type=p.CallMeta)
            service = self._services.get(call.service)
            if service is None:
                reply = p.ReplyMeta(call_id=call.call_id, client=call.client, status="no_service",
                                    error=f"{self.name} no longer serves {call.service!r}")
                self._control_send([p.REP, p.encoder.encode(reply), b""])
            else:
                self.create_task(service.handle(call, frames[2], frames[3]), f"service {call.service}")
        elif kind == p.REP:
            answer = msgspec.msgpack.decode(frames[1], type=p.ReplyMeta)
            future = self._pending_calls.get(answer.call_id)
            if future is not None and not future.done():
                future.set_result((answer, frames[2] if len(frames) > 2 else b""))
        elif kind == p.GRAPH:
            graph = msgspec.msgpack.decode(frames[1], type=p.Graph)
            for waiter in self._graph_waiters:
                if not waiter.done():
                    waiter.set_result(graph)
        else:
            self.report_bad_input("vtbus", "control", f"unknown kind {kind[:16]!r}")

    def report_bad_input(self, sender: str, topic: str, reason: str) -> None:
        """Count a message the node cannot use (``bad_input`` in ``vtnode info``) and log it
        once per (sender, topic), in bounded memory and at most a few lines a second (see
        `bus.bounded.LogLimiter`). The caller drops the message and carries on."""
        self.counters["bad_input"] += 1
        if self._bad_log.should_log((sender[:100], topic[:100]), time.monotonic()):
            held = self._bad_log.take_suppressed()
            self.log.warning("dropped a message from %s on %s: %s (logged once%s)",
                             sender[:100], topic[:100], reason[:500],
                             f"; {held} other drops since the last such line" if held else "")

    def report_callback_failure(self, where: str) -> None:
        """Call from an ``except`` block: count a callback (or the node's own work) that raised
        (``callback_errors``) and log its traceback once per place and error, at most a few a
        second: a flood of inputs that each make a callback fail must not become a flood of
        tracebacks."""
        self.counters["callback_errors"] += 1
        error = sys.exc_info()[1]
        key = (where, type(error).__name__, str(error)[:200])
        if self._failure_log.should_log(key, time.monotonic()):
            held = self._failure_log.take_suppressed()
            self.log.exception("%s callback raised; the node carries on%s", where,
                               f" ({held} failures since the last such line)" if held else "")

    def _graph_changed(self) -> None:
        if self._loop is not None and not self._closed:
            self._loop.call_soon(self._send_heartbeat)

    def _info(self) -> p.NodeInfo:
        now = time.monotonic()
        elapsed = max(1e-6, now - self._rate_mark)
        self._rate_mark = now
        all_stats = [pub.stats for pub in self._publishers.values()]
        all_stats += [sub.stats for sub in self._subscriptions]
        for stats in all_stats:
            previous = self._rate_counts.get(id(stats), 0)
            stats.rate_hz = (stats.count - previous) / elapsed
            self._rate_counts[id(stats)] = stats.count
        return p.NodeInfo(
            name=self.name,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_ns=self.started_ns,
            publishers=[p.Endpoint(t, pub.type_tag, pub.latched) for t, pub in self._publishers.items()],
            subscriptions=[p.Endpoint(s.topic, s.type_tag, s.latched) for s in self._subscriptions],
            services=[p.Endpoint(n, s.srv.name) for n, s in self._services.items()],
            clients=[p.Endpoint(n, c.srv.name) for n, c in self._clients.items()],
            parameters=self.parameters.values(),
            pub_stats={t: pub.stats for t, pub in self._publishers.items()},
            sub_stats={s.topic: s.stats for s in self._subscriptions},
            # a node's own counts: held within msgpack's int64, never a heartbeat that fails
            counters={k: clamp_int64(v) if isinstance(v, int) else v
                      for k, v in self.counters.items()},
            hidden=self.options.hidden,
            loading=self._loading,
        )

    def _send_heartbeat(self) -> bool:
        try:
            encoded = p.encoder.encode(self._info())
        except Exception:
            # a node's bug (a counter that is not a number...) costs its figures, never its
            # place in the registry: the heartbeat goes out without them
            self.report_callback_failure("heartbeat")
            bare = p.NodeInfo(name=self.name, pid=os.getpid(), host=socket.gethostname(),
                              started_ns=self.started_ns, hidden=self.options.hidden,
                              loading=self._loading)
            encoded = p.encoder.encode(bare)
        return self._control_send([p.HB, encoded])

    async def _heartbeat_loop(self) -> None:
        joined_at = 0.0
        next_release = time.monotonic() + RELEASE_EVERY_S
        while True:
            try:
                self._send_heartbeat()
                self._transport.wake()
                if time.monotonic() >= next_release:  # what a burst freed goes back
                    release_freed_memory()
                    next_release = time.monotonic() + RELEASE_EVERY_S
                if self._bus_log.held is not None and self._epoch:
                    # once someone listens to system/log (or after a few seconds, anyway)
                    joined_at = joined_at or time.monotonic()
                    if self._log_pub.has_subscribers() or time.monotonic() - joined_at > 3.0:
                        self.publish_held_logs()
            except Exception:  # the heartbeat is the node's place on the bus: it never stops
                self.report_callback_failure("heartbeat")
            # until vtbus has answered once, the connection may still be forming (IMMEDIATE
            # drops what is sent before it): say hello again soon rather than a period later
            joined = bool(self._epoch)
            await asyncio.sleep(self.options.heartbeat_s if joined else 0.05)

    def _get_parameters(self, request: ParamGetRequest) -> ParamGetResponse:
        return ParamGetResponse(
            values=self.parameters.values(request.names or None),
            descriptions=self.parameters.descriptions(),
            declared=self.parameters.declared(),
        )

    def _set_parameters(self, request: ParamSetRequest) -> ParamSetResponse:
        ok, reason = self.parameters.set(request.values)
        if ok:
            self.log.info("parameters set: %s", ", ".join(request.values))
            self._graph_changed()
        return ParamSetResponse(successful=ok, reason=reason, values=self.parameters.values())
