"""Demo messages: a counter, for the demo talker/listener nodes that launch tests and
benchmarks run (no model, no device, so a graph of them starts in well under a second)."""

from __future__ import annotations

from messages.base import Message

__all__ = ["Count"]


class Count(Message, tag="demo.Count"):
    """One tick of a counter (``demo/count``, ``demo/echo``)."""

    value: int
    """Ticks since the publisher started, from 0."""
    source: str = ""
    """For an echo: the node whose tick this repeats."""
