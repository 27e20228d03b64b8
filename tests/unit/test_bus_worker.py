"""bus.worker: one task per worker, items in the order take() gives, failures counted, a stop
that never hangs, a bounded queue that keeps each item's trace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bus.node import Node, NodeOptions, Trace
from bus.worker import Worker, WorkQueue


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    node = Node("worker_test", options=NodeOptions(bus="ipc:///tmp/vt-unused-worker"))
    yield node
    await node.close()


async def _until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.001)


class TestWorker:
    async def test_items_are_handled_in_the_order_take_gives_then_it_sleeps(
            self, node: Node) -> None:
        pending = [3, 1, 2]
        handled: list[int] = []

        async def handle(item: int) -> None:
            handled.append(item)

        worker = Worker(node, lambda: pending.pop(0) if pending else None, handle, name="w")
        worker.start()
        await _until(lambda: handled == [3, 1, 2])
        pending.append(7)  # nothing looks until woken
        await asyncio.sleep(0.05)
        assert handled == [3, 1, 2]
        worker.wake()
        await _until(lambda: handled == [3, 1, 2, 7])
        await worker.stop()

    async def test_a_failing_item_is_counted_and_the_next_one_goes_on(self, node: Node) -> None:
        queue: WorkQueue[int] = WorkQueue(node, self._fail_on_two, name="q")
        self.done: list[int] = []
        queue.start()
        for item in (1, 2, 3):
            queue.put(item)
        await _until(lambda: self.done == [1, 3])
        assert node.counters["callback_errors"] == 1
        await queue.stop()

    async def _fail_on_two(self, item: int) -> None:
        if item == 2:
            raise ValueError("two")
        self.done.append(item)

    async def test_stop_has_a_deadline_even_when_a_handle_swallows_the_cancel(
            self, node: Node) -> None:
        release = asyncio.Event()

        async def stubborn(item: int) -> None:
            while not release.is_set():
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    continue  # a bad handle: it ignores the cancel

        queue: WorkQueue[int] = WorkQueue(node, stubborn, name="stubborn")
        queue.start()
        queue.put(1)
        await _until(lambda: queue.worker.busy)
        await asyncio.wait_for(queue.stop(timeout=0.1), 5.0)  # returns: no hang
        assert queue.worker.busy
        release.set()  # once the handle returns, the worker ends: it was asked to
        await _until(lambda: not queue.worker.busy)
        await asyncio.sleep(0.01)
        assert not [t for t in asyncio.all_tasks() if t.get_name().endswith("stubborn")]


class TestWorkQueue:
    async def test_a_full_queue_drops_its_oldest_and_counts_it(self, node: Node) -> None:
        queue: WorkQueue[int] = WorkQueue(node, self._record, name="slow", maxlen=2)
        self.seen: list[int] = []
        for item in (1, 2, 3, 4):
            queue.put(item)
        assert list(item for item, _ in queue.items) == [3, 4]
        assert node.counters["slow_dropped"] == 2
        queue.start()
        await _until(lambda: self.seen == [3, 4])
        assert len(queue) == 0
        await queue.stop()

    async def _record(self, item: int) -> None:
        self.seen.append(item)

    async def test_each_item_is_handled_in_the_trace_it_was_put_in(self, node: Node) -> None:
        traces: list[Trace | None] = []

        async def handle(item: int) -> None:
            traces.append(node.current_trace())

        queue: WorkQueue[int] = WorkQueue(node, handle, name="traced")
        first, second = Trace("chat#1", 1), Trace("chat#2", 2)
        with node.traced(first):
            queue.put(1)
        with node.traced(second):
            queue.put(2)
        queue.start()
        await _until(lambda: len(traces) == 2)
        assert traces == [first, second]
        await queue.stop()


async def test_close_does_not_wait_forever_for_a_task_that_ignores_its_cancel(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import bus.node
    monkeypatch.setattr(bus.node, "CLOSE_TIMEOUT_S", 0.1)
    node = Node("stubborn_close", options=NodeOptions(bus="ipc:///tmp/vt-unused-close"))
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue  # swallows every cancel until released

    task = node.create_task(stubborn(), "stubborn")
    await asyncio.sleep(0.02)
    await asyncio.wait_for(node.close(), 5.0)  # returns: before, it waited for ever
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 5.0)
