"""A daily API quota spent evenly: YouTube gives 10,000 units a day, reset at midnight
Pacific time, and ``liveChatMessages.list`` costs 5 units, so polling as fast as the server
allows (every few seconds) would run dry in hours. Pure logic: the caller passes the wall
clock (``time.time()`` seconds)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["QuotaBudget", "next_pacific_midnight", "pacific_time"]

_PACIFIC = ZoneInfo("America/Los_Angeles")


def next_pacific_midnight(now: float) -> float:
    """The next midnight in America/Los_Angeles after ``now``, as epoch seconds."""
    local = dt.datetime.fromtimestamp(now, _PACIFIC)
    tomorrow = (local + dt.timedelta(days=1)).date()
    return dt.datetime.combine(tomorrow, dt.time(), _PACIFIC).timestamp()


def pacific_time(stamp: float) -> str:
    """``stamp`` (epoch seconds) as the quota's clock shows it: ``2026-12-07 00:00 PST``."""
    return f"{dt.datetime.fromtimestamp(stamp, _PACIFIC):%Y-%m-%d %H:%M %Z}"


class QuotaBudget:
    """Units left for the day, and how fast they may be spent.

    Parameters
    ----------
    daily_units:
        The project's daily quota (YouTube's default: 10,000).
    now:
        The wall clock at creation.
    reserve:
        Units kept back for sends (``liveChatMessages.insert`` costs 50).
    """

    def __init__(self, daily_units: int, now: float, *, reserve: int = 0):
        if daily_units <= 0:
            raise ValueError(f"daily_units must be positive, got {daily_units}")
        self.daily_units = daily_units
        self.reserve = reserve
        self.spent = 0
        self.resets_at = next_pacific_midnight(now)

    def _roll(self, now: float) -> None:
        if now >= self.resets_at:
            self.spent = 0
            self.resets_at = next_pacific_midnight(now)

    def remaining(self, now: float) -> int:
        self._roll(now)
        return self.daily_units - self.spent

    def spend(self, units: int, now: float, *, use_reserve: bool = False) -> bool:
        """Take ``units`` if the budget allows; False (nothing taken) if not."""
        floor = 0 if use_reserve else self.reserve
        if self.remaining(now) - units < floor:
            return False
        self.spent += units
        return True

    def exhaust(self, now: float) -> None:
        """The server said the quota is gone (quotaExceeded): nothing left until the reset."""
        self._roll(now)
        self.spent = self.daily_units

    def pace(self, units: int, now: float, horizon_s: float = 0.0) -> float:
        """Seconds between calls costing ``units`` so the rest of the budget lasts until the
        reset, or (with ``horizon_s``) over the next ``horizon_s`` seconds if that is sooner.

        A rolling horizon (a stream's expected length) polls faster early on; if the stream
        runs on, each call recomputes and polls slow down smoothly instead of running dry.
        """
        usable = self.remaining(now) - self.reserve
        calls = usable // units
        until_reset = max(0.0, self.resets_at - now)
        if calls <= 0:
            return until_reset
        window = min(until_reset, horizon_s) if horizon_s > 0 else until_reset
        return window / calls
