"""The daily YouTube quota: reset at midnight Pacific, spent evenly, never overspent."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from nodes.chat.quota import QuotaBudget, next_pacific_midnight

PACIFIC = ZoneInfo("America/Los_Angeles")


def at(day: int, hour: int, month: int = 5) -> float:
    return dt.datetime(2024, month, day, hour, tzinfo=PACIFIC).timestamp()


class TestReset:
    @pytest.mark.parametrize(
        ("now", "reset"),
        [
            (at(1, 13), at(2, 0)),
            (at(1, 0), at(2, 0)),  # exactly midnight: the next one
            (at(9, 23, month=3), at(10, 0, month=3)),  # the night DST starts (23 h day)
        ],
    )
    def test_next_midnight(self, now: float, reset: float) -> None:
        assert next_pacific_midnight(now) == reset


class TestBudget:
    def test_never_overspent(self) -> None:
        budget = QuotaBudget(100, at(1, 12))
        spent = sum(budget.spend(5, at(1, 12)) for _ in range(30))
        assert spent == 20
        assert budget.remaining(at(1, 12)) == 0

    def test_resets_at_midnight(self) -> None:
        budget = QuotaBudget(100, at(1, 12))
        budget.exhaust(at(1, 12))
        assert not budget.spend(5, at(1, 23))
        assert budget.spend(5, at(2, 0))
        assert budget.remaining(at(2, 1)) == 95

    def test_reserve_is_kept_for_replies(self) -> None:
        budget = QuotaBudget(100, at(1, 12), reserve=50)
        assert sum(budget.spend(5, at(1, 12)) for _ in range(20)) == 10
        assert budget.spend(50, at(1, 12), use_reserve=True)

    def test_pace_spreads_the_rest_of_the_day(self) -> None:
        budget = QuotaBudget(10_000, at(1, 12))
        # 12 hours left, 2,000 polls of 5 units: one every 21.6 s
        assert budget.pace(5, at(1, 12)) == pytest.approx(12 * 3600 / 2000)

    def test_horizon_polls_faster_and_slows_down_smoothly(self) -> None:
        budget = QuotaBudget(10_000, at(1, 12))
        assert budget.pace(5, at(1, 12), horizon_s=4 * 3600) == pytest.approx(7.2)
        for _ in range(1000):  # half the day's polls gone
            budget.spend(5, at(1, 14))
        assert budget.pace(5, at(1, 14), horizon_s=4 * 3600) == pytest.approx(14.4)
        assert budget.pace(5, at(1, 23), horizon_s=4 * 3600) == pytest.approx(3.6)  # reset

    def test_pace_when_exhausted_waits_for_the_reset(self) -> None:
        budget = QuotaBudget(10_000, at(1, 12))
        budget.exhaust(at(1, 12))
        assert budget.pace(5, at(1, 18)) == pytest.approx(6 * 3600)

    def test_bad_quota(self) -> None:
        with pytest.raises(ValueError, match="daily_units must be positive, got 0"):
            QuotaBudget(0, at(1, 12))
