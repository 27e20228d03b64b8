"""Counting events in time windows: what a rate limit promises, checked from the outside."""

from __future__ import annotations

__all__ = ["max_in_window"]


def max_in_window(times: list[float], window: float) -> int:
    """The most events inside any half-open window [t, t + window)."""
    return max(sum(1 for u in times if t <= u < t + window) for t in times)
