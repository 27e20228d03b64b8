"""The handles a node gives out: `Publisher`, `Subscription` and `Timer`, with the message
`Trace` they carry and the checks they share with services (`check_arity`, `tag_of`).

Made by `bus.node.Node` (``create_publisher``, ``create_subscription``, ``create_timer``);
see that module for the runtime they plug into.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from bus import protocol as p
from bus.errors import CallbackError
from messages.base import Header, Message
from messages.catalog import TOPICS

if TYPE_CHECKING:
    from bus.node import Node

__all__ = ["Publisher", "RawMessage", "Subscription", "Timer", "Trace"]

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Trace:
    """The event that started a chain: its id and when it happened (``time.time_ns()``)."""

    id: str
    stamp_ns: int


current_trace_var: contextvars.ContextVar[Trace | None] = contextvars.ContextVar(
    "vt_trace", default=None
)


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message not decoded: what tools and the bag recorder subscribe to."""

    topic: str
    header: Header
    payload: bytes
    raw_header: bytes = b""
    """The header frame exactly as it arrived (bags store it, so fields a newer header adds
    survive a recording made by an older build)."""



class Publisher(Generic[M]):
    """Publishes ``msg_type`` on one topic; made by `Node.create_publisher`."""

    def __init__(self, node: Node, msg_type: type[M], topic: str, latched: bool,
                 type_tag: str | None = None):
        self.node = node
        self.msg_type = msg_type
        self.topic = topic
        self.latched = latched
        self.type_tag = type_tag or tag_of(msg_type)
        self.seq = 0
        self.stats = p.TopicStats()
        self._topic_frame = topic.encode()
        self._last_latched: list[bytes] | None = None

    def publish(self, msg: M, *, trace: Trace | None = None) -> Header:
        """Send ``msg`` now (never blocks) and return the header it went out with."""
        if not isinstance(msg, self.msg_type):
            raise TypeError(
                f"{self.topic} carries {self.msg_type.__name__}, not {type(msg).__name__}"
            )
        return self.publish_raw(self.node._encoder.encode(msg), trace=trace)

    def publish_raw(self, payload: bytes, *, trace: Trace | None = None) -> Header:
        """Send an already encoded payload (bag playback keeps the recorded bytes)."""
        stamp = time.time_ns()
        trace = trace or current_trace_var.get()
        if trace is None:
            trace = Trace(f"{self.node.name}/{self.topic}#{self.seq}", stamp)
        header = Header(self.node.name, self.seq, stamp, self.type_tag, trace.id, trace.stamp_ns)
        self.seq += 1
        raw_header = self.node._encoder.encode(header)
        if self.node._send_data(self._topic_frame, raw_header, payload):
            stats = self.stats
            stats.count += 1
            stats.bytes += len(payload)
        else:  # dropped at the queue limit: counted, never blocking the node
            self.stats.dropped += 1
        if self.latched:
            self._last_latched = [raw_header, payload]
            self.node._send_latched(self.topic, self._last_latched)
        return header

    def has_subscribers(self) -> bool:
        """Whether some node subscribes to this topic (as vtbus told this publisher)."""
        return self.node.has_subscribers(self.topic)

    async def wait_for_subscribers(self, timeout: float = 5.0) -> bool:
        """Wait until some node subscribes, so that what is published next is not lost to a
        subscription still on its way; False if none did within ``timeout``.

        "Some node" may be this node itself: vtbus forwards one subscription per topic, so a
        node that subscribes to its own topic cannot wait here for another subscriber (ask
        the registry instead, as `Client.wait_for_service` does for services).
        """
        await self.node.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.has_subscribers():
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def resend_latched(self) -> None:
        if self._last_latched is not None:
            self.node._send_latched(self.topic, self._last_latched)


class Subscription:
    """A callback on one topic (or every topic under a prefix); made by `create_subscription`."""

    def __init__(
        self,
        node: Node,
        msg_type: type[Message] | type[RawMessage],
        topic: str,
        callback: Callable[..., Any],
        *,
        prefix: bool,
        latched: bool,
        queue_size: int,
    ):
        self.node = node
        self.msg_type = msg_type
        self.topic = topic
        self.callback = callback
        self.prefix = prefix
        self.latched = latched
        self.raw = msg_type is RawMessage
        self.type_tag = "*" if self.raw else tag_of(msg_type)  # type: ignore[arg-type]
        self.decoder = None if self.raw else msgspec.msgpack.Decoder(msg_type)
        self.wants_header = check_arity(callback, "subscription", (1, 2)) == 2
        self.is_async = inspect.iscoroutinefunction(callback)
        self.stats = p.TopicStats()
        self._queue: asyncio.Queue[tuple[Any, Header]] | None = None
        self._queue_size = queue_size

    @property
    def backlog(self) -> int:
        """Messages waiting for an async callback (0 for a synchronous one)."""
        return 0 if self._queue is None else self._queue.qsize()

    def matches(self, topic: str) -> bool:
        return topic.startswith(self.topic) if self.prefix else topic == self.topic

    def deliver(
        self, topic: str, header: Header, payload: bytes, raw_header: bytes = b""
    ) -> bool:
        """Hand one message to the callback; False when its payload does not decode (it is
        counted and dropped), True once the callback has it (whatever the callback did)."""
        if self.raw:
            msg: Any = RawMessage(topic, header, payload, raw_header)
        else:
            assert self.decoder is not None
            try:
                msg = self.decoder.decode(payload)
            # msgspec raises UnicodeDecodeError (not a DecodeError) for a text not in UTF-8
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                self.stats.errors += 1
                self.node.report_bad_input(header.publisher, topic, f"payload is not {self.type_tag}: {exc}")
                return False
        self.stats.count += 1
        self.stats.bytes += len(payload)
        if self.is_async:
            self._enqueue(msg, header)
        elif self.raw:  # tools and recorders: they publish nothing derived, so no trace to set
            try:
                self.callback(msg, header) if self.wants_header else self.callback(msg)
            except Exception:
                self.node.report_callback_failure(f"subscription {self.topic}")
        else:
            token = current_trace_var.set(trace_of(header))
            try:
                self.callback(msg, header) if self.wants_header else self.callback(msg)
            except Exception:
                self.node.report_callback_failure(f"subscription {self.topic}")
            finally:
                current_trace_var.reset(token)
        return True

    def _enqueue(self, msg: Any, header: Header) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue(self._queue_size)
            self.node.create_task(self._work(), f"sub {self.topic}")
        if self._queue.full():  # a slow async callback loses the oldest, never stalls the node
            self._queue.get_nowait()
            self.stats.dropped += 1
        self._queue.put_nowait((msg, header))

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            msg, header = await self._queue.get()
            current_trace_var.set(trace_of(header))
            try:
                await (self.callback(msg, header) if self.wants_header else self.callback(msg))
            except Exception:
                self.node.report_callback_failure(f"subscription {self.topic}")
            except asyncio.CancelledError:
                if own_cancellation():
                    raise
                self.node.report_callback_failure(f"subscription {self.topic}")


class Timer:
    """Calls back every ``period_s`` seconds, without drift; made by `Node.create_timer`."""

    def __init__(self, node: Node, period_s: float, callback: Callable[[], Any]):
        if period_s <= 0:
            raise ValueError(f"timer period must be positive, got {period_s}")
        check_arity(callback, "timer", (0,))
        self.node = node
        self.period_s = period_s
        self.callback = callback
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = self.node.create_task(self._run(), "timer")

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def set_period(self, period_s: float) -> None:
        """Call back every ``period_s`` from the next call on (a parameter's on-set callback)."""
        if period_s <= 0:
            raise ValueError(f"timer period must be positive, got {period_s}")
        self.period_s = period_s
        if self._task is not None:  # the sleep under way was for the old period
            self.cancel()
            self.start()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.period_s
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += self.period_s
            if due < loop.time():  # fell behind (the loop was blocked): skip, don't burst
                due = loop.time() + self.period_s
            try:
                result = self.callback()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.node.report_callback_failure("timer")
            except asyncio.CancelledError:
                if own_cancellation():
                    raise
                self.node.report_callback_failure("timer")  # the callback's own: it ends only the call


def own_cancellation() -> bool:
    """Whether the CancelledError being handled cancels the running task itself (it must
    end), rather than being one its callback let out (the task carries on)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def tag_of(msg_type: type[Message]) -> str:
    tag = msg_type.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{msg_type.__name__} has no tag: message types derive from Message")
    return tag


def trace_of(header: Header) -> Trace:
    if header.trace_id:
        return Trace(header.trace_id, header.trace_stamp_ns)
    return Trace(f"{header.publisher}#{header.seq}", header.stamp_ns)


def check_arity(callback: Callable[..., Any], what: str, allowed: tuple[int, ...]) -> int:
    """How many positional arguments ``callback`` takes; refuse it now if not one of ``allowed``."""
    try:
        params = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return allowed[0]
    positional = [
        q for q in params if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)
    ]
    if any(q.kind == q.VAR_POSITIONAL for q in params):
        return max(allowed)
    required = [q for q in positional if q.default is q.empty]
    for n in sorted(allowed, reverse=True):
        if len(required) <= n <= len(positional):
            return n
    raise CallbackError(
        f"{what} callback {getattr(callback, '__qualname__', callback)!r} takes "
        f"{len(positional)} positional argument(s); it must take "
        + " or ".join(str(n) for n in allowed)
    )


def latched_topic(topic: str) -> bool:
    """Whether the catalogue says ``topic`` is latched (a topic it does not know is not)."""
    known = TOPICS.get(topic)
    return known.latched if known is not None else False
