"""The send limiter: never more than `limit` events in any window, even under bursts."""

from __future__ import annotations

import asyncio

import pytest
from helpers.rates import max_in_window

from nodes.chat.ratelimit import WindowLimiter


class TestWindowLimiter:
    def test_burst_is_capped(self) -> None:
        limiter = WindowLimiter(20, 30.0)
        allowed = [limiter.try_acquire(0.0) for _ in range(50)]
        assert allowed.count(True) == 20
        assert limiter.delay(0.0) == pytest.approx(30.0)
        assert limiter.try_acquire(30.0)

    def test_never_exceeded_over_a_long_burst(self) -> None:
        """Offer an event every 0.1 s for 5 minutes: a token bucket with burst 20 would let
        ~40 through in some 30 s window; the limiter lets 20."""
        limiter = WindowLimiter(20, 30.0)
        sent = [t / 10 for t in range(3000) if limiter.try_acquire(t / 10)]
        assert max_in_window(sent, 30.0) == 20
        assert len(sent) == 200  # and it does use its allowance: 20 per 30 s for 300 s

    def test_moderator_limit(self) -> None:
        limiter = WindowLimiter(20, 30.0)
        limiter.set_limit(100)
        assert sum(limiter.try_acquire(0.0) for _ in range(150)) == 100

    def test_lowering_the_limit_keeps_history(self) -> None:
        limiter = WindowLimiter(100, 30.0)
        for _ in range(30):
            limiter.try_acquire(0.0)
        limiter.set_limit(20)  # no longer a moderator
        assert not limiter.try_acquire(1.0)
        assert limiter.try_acquire(30.0)

    @pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (5, 0.0), (-1, 1.0)])
    def test_bad_settings(self, limit: int, window: float) -> None:
        with pytest.raises(ValueError, match="a limit needs limit >= 1 and window_s > 0"):
            WindowLimiter(limit, window)

    async def test_acquire_waits(self) -> None:
        limiter = WindowLimiter(3, 0.2)
        loop = asyncio.get_running_loop()
        times = []
        for _ in range(7):
            await limiter.acquire()
            times.append(loop.time())
        # times are taken after each grant, so scheduling delay can bunch them: judge them
        # against half the window (unlimited, all 7 would fall within a millisecond)
        assert max_in_window(times, 0.1) <= 3
        assert len(times) == 7
