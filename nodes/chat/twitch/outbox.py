"""Replies waiting to be sent to Twitch, and those sent but not yet answered.

IRC has no acknowledgements, but Twitch answers every PRIVMSG it takes: USERSTATE when the
message went to the channel ("sent when the bot joins a channel or sends a PRIVMSG
message", https://dev.twitch.tv/docs/irc/commands/), a ``msg_*`` NOTICE when it refused it
(duplicate, slow mode, timed out...). So a reply is *in flight* from its write until that
answer, and when the connection goes first (RECONNECT, a dropped socket) it goes back to the
front of the queue and is sent again on the next connection: nothing written into a dying
socket is lost, and nothing the server answered is sent twice.

Bounds: at most ``capacity`` replies wait (a new one pushes out the oldest); a reply that
waited ``max_age_s`` (120 s by default: a full queue of 100 drains in 150 s at 20 per 30 s,
and a reconnect waits up to 60 s, so two minutes is when a reply answers a chat that has
moved on) is dropped when its turn comes; a reply in flight for ``ack_timeout_s`` without an
answer is taken as delivered (a server that never answers must not make us repeat
ourselves). Pure logic: the caller passes the clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["Outbox", "Reply"]


@dataclass
class Reply:
    """One whole PRIVMSG line and when it was queued (``time.monotonic()`` seconds)."""

    line: str
    queued_at: float
    sent_at: float = 0.0


class Outbox:
    """The send queue with its in-flight list.

    Parameters
    ----------
    capacity:
        Replies waiting at most (and in flight at most).
    max_age_s:
        A reply older than this when its turn comes is dropped (`take` counts it).
    ack_timeout_s:
        A reply in flight this long without USERSTATE/NOTICE is taken as delivered.
    """

    def __init__(self, capacity: int = 100, *, max_age_s: float = 120.0,
                 ack_timeout_s: float = 10.0):
        if capacity < 1 or max_age_s <= 0 or ack_timeout_s <= 0:
            raise ValueError(f"an outbox needs capacity >= 1 and positive times, got "
                             f"{capacity}, {max_age_s}, {ack_timeout_s}")
        self.capacity = capacity
        self.max_age_s = max_age_s
        self.ack_timeout_s = ack_timeout_s
        self.pending: deque[Reply] = deque()
        self.in_flight: deque[Reply] = deque()

    @property
    def idle(self) -> bool:
        """Nothing waits and nothing is in flight."""
        return not self.pending and not self.in_flight

    def put(self, line: str, now: float) -> bool:
        """Queue ``line``; False when the oldest waiting reply was dropped to make room."""
        room = len(self.pending) < self.capacity
        if not room:
            self.pending.popleft()
        self.pending.append(Reply(line, now))
        return room

    def take(self, now: float) -> tuple[Reply | None, int]:
        """The next reply to send (None: none waits) and how many stale ones were dropped."""
        stale = 0
        while self.pending and now - self.pending[0].queued_at > self.max_age_s:
            self.pending.popleft()
            stale += 1
        return (self.pending.popleft() if self.pending else None), stale

    def sent(self, reply: Reply, now: float) -> None:
        """``reply`` was written to the connection: in flight until answered."""
        self.settle(now)
        reply.sent_at = now
        self.in_flight.append(reply)
        if len(self.in_flight) > self.capacity:
            self.in_flight.popleft()

    def answered(self) -> bool:
        """The server answered the oldest reply in flight; False when none was."""
        if not self.in_flight:
            return False
        self.in_flight.popleft()
        return True

    def settle(self, now: float) -> None:
        """Take replies in flight past ``ack_timeout_s`` as delivered."""
        while self.in_flight and now - self.in_flight[0].sent_at > self.ack_timeout_s:
            self.in_flight.popleft()

    def requeue(self, now: float) -> int:
        """The connection went: unanswered replies go back to the front, in their order;
        returns how many."""
        self.settle(now)
        count = len(self.in_flight)
        self.pending.extendleft(reversed(self.in_flight))
        self.in_flight.clear()
        while len(self.pending) > self.capacity:  # the oldest make room, as in `put`
            self.pending.popleft()
        return count
