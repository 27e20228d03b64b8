"""A drift-free periodic loop on ``loop.time()``, measuring its own regularity.

Deadlines are computed from the start (``start + n * period``), never from "now + period",
so small delays do not accumulate; a loop that fell more than a period behind (blocked event
loop) skips the missed ticks instead of bursting to catch up. A new rate (`Ticker.set_rate`)
counts deadlines afresh from the last one.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import statistics
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["IntervalStats", "Ticker"]


@dataclass
class IntervalStats:
    """Tick intervals summed in integer microseconds: mean and deviation of the whole run, and
    an observer can difference two snapshots to get them for just the ticks in between."""

    count: int = 0
    sum_us: int = 0
    sum_sq_us: int = 0
    skipped: int = 0
    """Ticks left out because the loop fell more than a period behind."""

    def add(self, interval: float) -> None:
        us = round(interval * 1e6)
        self.count += 1
        self.sum_us += us
        self.sum_sq_us += us * us

    @property
    def mean(self) -> float:
        """Mean interval in seconds."""
        return self.sum_us / self.count / 1e6 if self.count else 0.0

    @property
    def std(self) -> float:
        """Standard deviation of the intervals in seconds."""
        if not self.count:
            return 0.0
        mean_us = self.sum_us / self.count
        return math.sqrt(max(0.0, self.sum_sq_us / self.count - mean_us * mean_us)) / 1e6

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.mean if self.mean > 0 else 0.0


class Ticker:
    """Calls ``tick(now)`` (sync or async; ``now`` = ``loop.time()``) ``hz`` times a second.

    ``stats`` covers the whole run; ``recent`` keeps the last ``window`` intervals.
    """

    def __init__(self, hz: float, tick: Callable[[float], Awaitable[None] | None], *,
                 window: int = 3600):
        self.period = _period(hz)
        self.tick = tick
        self.stats = IntervalStats()
        self.recent: deque[float] = deque(maxlen=window)
        self._rate_changed = False

    def set_rate(self, hz: float) -> None:
        """Tick ``hz`` times a second from the tick after the next one on (the one being
        waited for keeps its deadline)."""
        self.period = _period(hz)
        self._rate_changed = True

    def recent_jitter(self) -> tuple[float, float]:
        """(mean interval, standard deviation) of the recent intervals, in seconds."""
        if len(self.recent) < 2:
            return 0.0, 0.0
        return statistics.fmean(self.recent), statistics.pstdev(self.recent)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = due = loop.time()
        n = 0
        last: float | None = None
        while True:
            if self._rate_changed:
                self._rate_changed = False
                start, n = due, 0
            n += 1
            due = start + n * self.period
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > self.period:
                missed = math.floor(-delay / self.period)
                self.stats.skipped += missed
                n += missed
            now = loop.time()
            if last is not None:
                self.stats.add(now - last)
                self.recent.append(now - last)
            last = now
            result = self.tick(now)
            if inspect.isawaitable(result):
                await result


def _period(hz: float) -> float:
    if not hz > 0:
        raise ValueError(f"tick rate must be positive, got {hz}")
    return 1.0 / hz
