"""A node's background worker: one task that takes work while there is some and sleeps
until woken when there is none.

The shape every node with a queue needs (TTS sentences, STT jobs, memory backlogs, facts):
callbacks add work and `Worker.wake` it; the worker takes one item at a time with ``take``
(any order the node's own queue decides) and awaits ``handle`` on it. `WorkQueue` is the
common case, a first-in first-out deque with an optional bound that keeps each item's
trace.

A ``handle`` that raises is counted and logged by the node (``callback_errors``) and the
worker goes on with the next item; the node cancels the worker when it closes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from bus.node import Node, Trace

__all__ = ["WorkQueue", "Worker"]

T = TypeVar("T")


class Worker(Generic[T]):
    """Runs ``handle(item)`` for each item ``take()`` gives, one at a time, in a task of
    ``node``; ``take()`` returning None means nothing to do until the next `wake`.

    Parameters
    ----------
    node:
        Owns the task (started with the node, cancelled when it closes) and counts failures.
    take:
        The next item, or None when there is none now.
    handle:
        Does the work of one item.
    name:
        Names the task and the place a failure is logged at.
    """

    def __init__(self, node: Node, take: Callable[[], T | None],
                 handle: Callable[[T], Awaitable[None]], *, name: str):
        self.node = node
        self.take = take
        self.handle = handle
        self.name = name
        self.busy = False
        """Whether an item is being handled right now."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task (call from `Node.on_start`, or any time on the node's loop)."""
        if self._task is None or self._task.done():
            self._task = self.node.create_task(self._run(), self.name)

    def wake(self) -> None:
        """There may be work: look again."""
        self._wake.set()

    async def stop(self, timeout: float = 5.0) -> None:
        """Cancel the task and wait for it, ``timeout`` seconds at most (a node's
        ``on_shutdown``, before what it uses closes): a ``handle`` that swallows the cancel
        must not hold the node's exit forever."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            self.node.log.warning("worker %s did not stop within %g s", self.name, timeout)

    async def _run(self) -> None:
        while True:
            item = self.take()
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            self.busy = True
            try:
                await self.handle(item)
            except Exception:
                self.node.report_callback_failure(self.name)
            finally:
                self.busy = False
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # a handle swallowed our cancel
                return


class WorkQueue(Generic[T]):
    """A `Worker` over a first-in first-out deque: `put` adds and wakes.

    Each item is handled as part of the trace of the message being handled when it was put,
    so what ``handle`` publishes keeps its chain. With ``maxlen``, a full queue drops its
    oldest item for the new one and counts it in the node's counter ``{name}_dropped`` (a
    slow worker must lose old work, not grow the node).
    """

    def __init__(self, node: Node, handle: Callable[[T], Awaitable[None]], *, name: str,
                 maxlen: int | None = None):
        self.node = node
        self.name = name
        self.maxlen = maxlen
        self.items: deque[tuple[T, Trace | None]] = deque()
        self._handle = handle
        self.worker: Worker[tuple[T, Trace | None]] = Worker(
            node, self._take, self._handle_traced, name=name)

    def start(self) -> None:
        self.worker.start()

    async def stop(self, timeout: float = 5.0) -> None:
        await self.worker.stop(timeout)

    def put(self, item: T) -> None:
        if self.maxlen is not None and len(self.items) >= self.maxlen:
            self.items.popleft()
            self.node.counters[f"{self.name}_dropped"] += 1
        self.items.append((item, self.node.current_trace()))
        self.worker.wake()

    def clear(self) -> None:
        self.items.clear()

    def __len__(self) -> int:
        return len(self.items) + self.worker.busy

    def _take(self) -> tuple[T, Trace | None] | None:
        return self.items.popleft() if self.items else None

    async def _handle_traced(self, entry: tuple[T, Trace | None]) -> None:
        item, trace = entry
        with self.node.traced(trace):
            await self._handle(item)
