"""Playing: a node that republishes a bag's messages on the bus.

Like ``ros2 bag play``, messages go out as this node's own (new publisher name, sequence numbers
and stamps), so subscribers count drops and latched values right even when a bag loops. What
makes a chain traceable is kept: the trace id is the recorded one, and the trace stamp is moved
by the same amount as the message, so every replayed hop shows the latency it had when recorded.

Timing follows the recorded publish stamps, scaled by ``rate``; ``fast`` plays in order with no
waiting (for tests). Latched topics go first: each latched topic's value in force when the
timeline starts is published before anything else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus.bag.reader import BagMessage, BagReader, RawRecord
from bus.bag.recorder import wait_joined
from bus.node import Node, NodeOptions, Publisher, Trace

__all__ = ["PlayResult", "Player", "play"]

SPIN_S = 0.0015
"""The last stretch of every wait is spent spinning: the event loop's timers are only
millisecond-grained (epoll), and the target is a gap error under 1 ms."""
YIELD_EVERY = 200
"""In fast mode, let the loop run (heartbeats, in-process subscribers) this often."""


@dataclass
class PlayResult:
    """What a play did.

    Attributes
    ----------
    published:
        Messages sent (all loops).
    problems:
        What was wrong with the bag (damaged parts skipped), one sentence each.
    timing:
        ``(recorded publish stamp, actual publish stamp)`` per message, when asked for.
    """

    published: int = 0
    problems: list[str] = field(default_factory=list)
    timing: list[tuple[int, int]] = field(default_factory=list)


class Player(Node):
    """Republish a bag on the bus.

    Parameters
    ----------
    path:
        The bag (file, folder or split name).
    bus:
        The bus URL.
    rate:
        Speed factor (2.0 plays twice as fast).
    fast:
        No waiting at all: every message in order, as fast as the bus takes them.
    loop:
        Start again at the end, until the node is shut down.
    topics:
        Only these topics (all when empty).
    remaps:
        ``{recorded topic: topic to publish on}``.
    start_offset_s:
        Skip this many seconds from the start of the bag.
    settle_s:
        Wait this long after joining the bus before the first message, so subscriptions have
        reached this node's socket (a PUB socket drops what nobody has subscribed to yet).
    keep_timing:
        Fill `PlayResult.timing` (for benchmarks).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        bus: str | None = None,
        rate: float = 1.0,
        fast: bool = False,
        loop: bool = False,
        topics: Sequence[str] = (),
        remaps: Mapping[str, str] | None = None,
        start_offset_s: float = 0.0,
        settle_s: float = 0.3,
        keep_timing: bool = False,
        name: str = "vtbag_play",
        options: NodeOptions | None = None,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        super().__init__(name, options=options or NodeOptions(
            bus=bus, hidden=True, remaps=dict(remaps or {})))
        self.reader = BagReader(path)
        self.rate = rate
        self.fast = fast
        self.loop = loop
        self.topics = list(topics) or None
        self.start_offset_ns = int(start_offset_s * 1e9)
        self.settle_s = settle_s
        self.keep_timing = keep_timing
        self.result = PlayResult(problems=self.reader.problems)
        self._publishers_by_topic: dict[str, Publisher[Any]] = {}

    async def play(self) -> PlayResult:
        """Play the bag (every loop) and return what was done."""
        await self.start()
        await wait_joined(self)
        await asyncio.sleep(self.settle_s)
        while True:
            first, timeline_start = self._latched_first()
            for record in first:
                decoded = self.reader.decode(record, payload=False)
                if decoded is not None:
                    self._publish(decoded)
            await self._timeline(timeline_start)
            await asyncio.sleep(0)  # a short bag on --loop must not starve the event loop
            if not self.loop or self._stopping is None or self._stopping.is_set():
                break
        return self.result

    def _latched_first(self) -> tuple[list[RawRecord], int]:
        """The value of each latched topic in force when the timeline starts, and when that is
        (the log time of the first non-latched message at or after the start offset)."""
        values: dict[str, RawRecord] = {}
        bag_start: int | None = None
        for record in self.reader.records(self.topics):
            if bag_start is None:
                bag_start = record.log_time
            if self.reader.latched(record.channel.topic):
                values[record.channel.topic] = record
            elif record.log_time >= bag_start + self.start_offset_ns:
                return sorted(values.values(), key=lambda r: r.log_time), record.log_time
        return sorted(values.values(), key=lambda r: r.log_time), 1 << 64

    async def _timeline(self, start: int) -> None:
        clock = time.perf_counter
        began = clock()
        first_stamp: int | None = None
        due = began
        sent = 0
        for record in self.reader.records(self.topics):
            if record.log_time < start or (
                record.log_time == start and self.reader.latched(record.channel.topic)
            ):
                continue  # before the start, or already published as a latched value
            if self._stopping is not None and self._stopping.is_set():
                return
            decoded = self.reader.decode(record, payload=False)
            if decoded is None:
                continue
            stamp = decoded.header.stamp_ns
            if first_stamp is None:
                first_stamp = stamp
            if not self.fast:
                due = max(due, began + (stamp - first_stamp) / 1e9 / self.rate)
                remaining = due - clock()
                if remaining > SPIN_S + 0.0005 and await self._stopped_within(remaining - SPIN_S):
                    return
                while clock() < due:
                    pass
            self._publish(decoded)
            sent += 1
            if sent % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def _stopped_within(self, seconds: float) -> bool:
        """Sleep, but wake up at once when the node is shut down (a bag may be silent for
        minutes); True if it was."""
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _problem(self, text: str) -> None:
        problem = f"{self.reader.path}: {text}"
        if problem not in self.result.problems:
            self.result.problems.append(problem)

    def _publish(self, decoded: BagMessage) -> None:
        topic, header = decoded.topic, decoded.header
        pub = self._publishers_by_topic.get(topic)
        if pub is None:
            try:
                pub = self.create_raw_publisher(topic, header.type,
                                                latched=self.reader.latched(topic))
            except TypeError as exc:  # remapped onto a topic that already plays another type
                self._problem(f"{topic}: {exc}: its messages were not played")
                return
            self._publishers_by_topic[topic] = pub
        if pub.type_tag != header.type:  # one publisher per topic: the first type wins
            self._problem(f"{topic} carries {pub.type_tag} and {header.type}: the "
                          f"{header.type} messages were not played")
            return
        now = time.time_ns()
        trace = Trace(header.trace_id or f"{header.publisher}#{header.seq}",
                      (header.trace_stamp_ns or header.stamp_ns) + now - header.stamp_ns)
        sent = pub.publish_raw(decoded.payload, trace=trace)
        self.result.published += 1
        if self.keep_timing:
            self.result.timing.append((header.stamp_ns, sent.stamp_ns))


async def play(
    path: str | Path,
    bus_url: str,
    *,
    fast: bool = True,
    rate: float = 1.0,
    topics: Sequence[str] = (),
    remaps: Mapping[str, str] | None = None,
    start_offset_s: float = 0.0,
    settle_s: float = 0.3,
) -> PlayResult:
    """Play a bag once on ``bus_url`` (as fast as possible unless ``fast=False``) and leave."""
    player = Player(path, bus=bus_url, rate=rate, fast=fast, topics=topics, remaps=remaps,
                    start_offset_s=start_offset_s, settle_s=settle_s)
    try:
        return await player.play()
    finally:
        await player.close()
