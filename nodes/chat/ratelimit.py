"""Send limits that are never exceeded: at most ``limit`` events in any ``window_s`` seconds.

Twitch states its limits as "20 messages per 30 seconds". A classic token bucket with a
burst of 20 refilling at 20/30 s lets 20 + 20 through in one 30 s window (the burst, then the
refill), so it would break the rule it is meant to keep. This limiter is the strict form of
the bucket: it remembers the time of each of the last ``limit`` sends, and the next one may
go once the oldest of them is ``window_s`` old. Pure logic: the caller passes the clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

__all__ = ["WindowLimiter"]


class WindowLimiter:
    """At most ``limit`` events in any window of ``window_s`` seconds.

    Parameters
    ----------
    limit:
        Events allowed per window (Twitch: 20, or 100 as moderator/broadcaster).
    window_s:
        The window length in seconds (Twitch: 30).
    """

    def __init__(self, limit: int, window_s: float):
        if limit < 1 or window_s <= 0:
            raise ValueError(f"a limit needs limit >= 1 and window_s > 0, got {limit}, {window_s}")
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def set_limit(self, limit: int) -> None:
        """Change the allowance (e.g. the account became a moderator); history is kept."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit

    def _forget(self, now: float) -> None:
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()

    def delay(self, now: float) -> float:
        """Seconds to wait before one more event is allowed at ``now`` (0: allowed now)."""
        self._forget(now)
        if len(self._times) < self.limit:
            return 0.0
        return self._times[-self.limit] + self.window_s - now

    def idle(self, now: float) -> bool:
        """True when no event falls inside the window ending at ``now``."""
        self._forget(now)
        return not self._times

    def try_acquire(self, now: float) -> bool:
        """Record an event at ``now`` if the limit allows it; False (nothing recorded) if not."""
        if self.delay(now) > 0:
            return False
        self._times.append(now)
        while len(self._times) > max(self.limit, 1) * 2:  # bounded memory after a limit change
            self._times.popleft()
        return True

    async def acquire(self) -> None:
        """Wait (asyncio) until an event is allowed, then record it."""
        while True:
            now = time.monotonic()
            wait = self.delay(now)
            if wait <= 0 and self.try_acquire(now):
                return
            await asyncio.sleep(max(wait, 0.001))
