"""What arrives, to the subscriptions it is for: frames checked, drops counted from sequence
gaps, and each latched value delivered once although it comes twice (from the bus, and from
the registry when subscribing). Every table here is keyed by what peers send, so each is
bounded (`bus.bounded.MAX_TRACKED`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bus import wire
from bus.bounded import MAX_TRACKED, put_bounded
from bus.errors import WireError
from bus.handles import Subscription

__all__ = ["LATCH_CLOCK_SKEW_NS", "MAX_SEQ_GAP", "Delivery"]

MAX_SEQ_GAP = 1_000_000
"""A sequence jump larger than this is a forged number or a publisher counting anew, not a
loss (the fastest rate measured here, ~200k msg/s, loses this many only in 5 s of outage)."""
LATCH_CLOCK_SKEW_NS = 2_000_000_000
"""A latched stamp further than this ahead of the local clock is not trusted to order values
(forged, or a host whose clock runs ahead): it hides nothing published after it."""


class Delivery:
    """Routes a node's arriving messages to its subscriptions.

    Parameters
    ----------
    subscriptions:
        The node's own list (it adds and removes; call `changed` after).
    report_bad_input:
        ``(sender, topic, reason)``: a message that is not ours, counted and dropped.
    """

    def __init__(self, subscriptions: list[Subscription],
                 report_bad_input: Callable[[str, str, str], None]):
        self._subscriptions = subscriptions
        self._report_bad_input = report_bad_input
        self._routes: dict[str, tuple[list[Subscription], bool]] = {}
        """topic -> (matching subscriptions, whether any treats it as latched)"""
        self._last_seq: dict[tuple[str, str], int] = {}
        """(topic, publisher) -> last sequence number seen, for drop counts (bounded)"""
        self._last_latched: dict[tuple[str, str], tuple[int, bool]] = {}
        """(topic, publisher) -> stamp of the latched value last delivered, and whether the
        registry gave it (bounded)"""

    def changed(self) -> None:
        """The subscriptions changed: routes are worked out again."""
        self._routes.clear()

    def dispatch(self, frames: list[bytes], *, from_latch: bool) -> None:
        """Hand one message to every subscription it is for; ``from_latch``: the registry
        gave it (a latched value asked for), not the bus. A message that is not ours is
        reported (`Node.report_bad_input`) and dropped."""
        try:
            topic, header, payload = wire.unpack(frames)
        except WireError as exc:
            where = frames[0][:60].decode(errors="replace") if frames else "?"
            self._report_bad_input("?", where, str(exc))
            return
        route = self._routes.get(topic)
        if route is None:
            route = self._route(topic)
        subs, latched = route
        if not subs:
            return
        key = (topic, header.publisher)
        if latched and not self._latched_is_new(key, header.stamp_ns, from_latch):
            return
        if not from_latch:
            last = self._last_seq.get(key)
            if last is None:
                put_bounded(self._last_seq, key, header.seq, MAX_TRACKED)
            else:
                if last + 1 < header.seq <= last + MAX_SEQ_GAP:
                    for sub in subs:
                        sub.stats.dropped += header.seq - last - 1
                self._last_seq[key] = header.seq
        if latched:
            # a latched value counts as delivered only once its payload decoded: a forged one
            # that does not must not stand in for the publisher's next values
            if any([sub.deliver(topic, header, payload, frames[1]) for sub in subs]):
                put_bounded(self._last_latched, key, (header.stamp_ns, from_latch), MAX_TRACKED)
            return
        for sub in subs:
            sub.deliver(topic, header, payload, frames[1])

    def _route(self, topic: str) -> tuple[list[Subscription], bool]:
        subs = [s for s in self._subscriptions if s.matches(topic)]
        route = (subs, any(s.latched for s in subs))
        put_bounded(self._routes, topic, route, MAX_TRACKED)
        return route

    def _latched_is_new(self, key: tuple[str, str], stamp_ns: int, from_latch: bool) -> bool:
        """Whether a latched value is news to this node: each arrives twice (the bus, and the
        registry when subscribing), so per publisher only the newest is delivered, once.

        On the bus a publisher's messages come in order, so a live value is new unless it is
        the one the registry already gave, or older than it. A stamp from the future (forged,
        or a clock far ahead) orders nothing, and a live value older than a live one means
        the publisher's clock stepped back: neither hides what comes after.
        """
        last = self._last_latched.get(key)
        if last is None:
            return True
        last_stamp, last_from_registry = last
        if last_stamp > time.time_ns() + LATCH_CLOCK_SKEW_NS:
            return stamp_ns != last_stamp
        if from_latch:
            return stamp_ns > last_stamp
        return stamp_ns > last_stamp or (stamp_ns < last_stamp and not last_from_registry)
