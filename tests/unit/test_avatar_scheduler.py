"""The drift-free ticker: tick count over a span, skipping when blocked, stats maths."""

from __future__ import annotations

import asyncio
import time

import pytest

from nodes.avatar.scheduler import IntervalStats, Ticker


class TestIntervalStats:
    def test_mean_and_std(self) -> None:
        stats = IntervalStats()
        for x in (1.0, 2.0, 3.0, 4.0):
            stats.add(x)
        assert stats.mean == pytest.approx(2.5)
        assert stats.std == pytest.approx(1.1180340, rel=1e-6)  # population deviation
        assert stats.rate_hz == pytest.approx(0.4)
        assert (stats.sum_us, stats.sum_sq_us) == (10_000_000, 30_000_000_000_000)


class TestTicker:
    def test_refuses_bad_rate(self) -> None:
        with pytest.raises(ValueError, match="tick rate must be positive"):
            Ticker(0, lambda now: None)

    async def test_no_drift(self) -> None:
        # deadlines come from the start: the count follows elapsed time, however late each
        # wake-up is (a behaviour check, not a timing assertion)
        stamps: list[float] = []
        ticker = Ticker(100.0, stamps.append)
        task = asyncio.create_task(ticker.run())
        await asyncio.sleep(0.5)
        task.cancel()
        loop = asyncio.get_running_loop()
        elapsed = loop.time() - stamps[0]
        assert len(stamps) - 1 + ticker.stats.skipped == pytest.approx(elapsed * 100, abs=3)

    async def test_new_rate_counts_from_the_last_deadline(self) -> None:
        # as test_no_drift, for the span after a change of rate: no burst of ticks owed to
        # the old rate, no pause for the old period
        stamps: list[float] = []
        ticker = Ticker(100.0, stamps.append)
        task = asyncio.create_task(ticker.run())
        await asyncio.sleep(0.2)
        ticker.set_rate(25.0)
        changed, skipped = len(stamps), ticker.stats.skipped
        await asyncio.sleep(0.6)
        task.cancel()
        after = stamps[changed:]  # the first is the tick waited for when the rate changed
        elapsed = after[-1] - after[0]
        ticks = len(after) - 1 + ticker.stats.skipped - skipped
        assert ticks >= 10  # 15 in 0.6 s
        assert ticks == pytest.approx(elapsed * 25, abs=2)
        assert ticker.period == pytest.approx(0.04)

    def test_new_rate_refused_when_not_positive(self) -> None:
        ticker = Ticker(60.0, lambda now: None)
        with pytest.raises(ValueError, match="tick rate must be positive, got -1"):
            ticker.set_rate(-1)
        assert ticker.period == pytest.approx(1 / 60)

    async def test_skips_instead_of_bursting(self) -> None:
        stamps: list[float] = []

        def tick(now: float) -> None:
            stamps.append(now)
            if len(stamps) == 3:
                time.sleep(0.2)  # the event loop is blocked for 20 periods

        ticker = Ticker(100.0, tick)
        task = asyncio.create_task(ticker.run())
        await asyncio.sleep(0.4)
        task.cancel()
        assert ticker.stats.skipped >= 15
        # without skipping, ~20 catch-up ticks would fire at once right after the block
        after_block = stamps[4]  # the first tick once the loop runs again
        burst = [t for t in stamps[4:] if t - after_block < 0.03]
        assert len(burst) <= 5

    async def test_recent_window(self) -> None:
        ticker = Ticker(200.0, lambda now: None, window=10)
        task = asyncio.create_task(ticker.run())
        await asyncio.sleep(0.2)
        task.cancel()
        mean, std = ticker.recent_jitter()
        assert len(ticker.recent) == 10 < ticker.stats.count
        assert mean > 0 and std >= 0

    async def test_async_tick_awaited(self) -> None:
        done: list[int] = []

        async def tick(now: float) -> None:
            await asyncio.sleep(0)
            done.append(1)

        task = asyncio.create_task(Ticker(200.0, tick).run())
        await asyncio.sleep(0.1)
        task.cancel()
        assert len(done) > 5
