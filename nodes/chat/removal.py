"""A moderator's removal, the same for every platform (Twitch CLEARCHAT/CLEARMSG, YouTube
messageDeletedEvent/userBannedEvent), and the bans it leaves behind.

A removal takes the user's queued messages away (`nodes.chat.triage`); a ban or timeout
also covers what the user says later, until it ends (a permanent ban: for the node's
life), so a message that was on its way when the ban came, or one the platform let through,
is not answered. Pure logic: the caller passes the clock (``time.monotonic()`` seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from messages.chat import ChatMessage

__all__ = ["Bans", "Removal"]


@dataclass(frozen=True)
class Removal:
    """A moderator removed messages: one by ``message_id``, all of a user, or the whole chat.

    ``user`` is the login or display name; ``user_id`` the platform id when known (it wins).
    """

    platform: str
    channel: str = ""
    message_id: str = ""
    user: str = ""
    user_id: str = ""
    duration_s: float = 0.0
    """Timeout length; 0 for a ban or a deletion."""

    @property
    def everything(self) -> bool:
        return not (self.message_id or self.user or self.user_id)

    @property
    def bans(self) -> bool:
        """A ban or timeout of one user (not a deletion, not a clear of the whole chat)."""
        return not self.message_id and not self.everything


def _keys(platform: str, user_id: str, user: str) -> list[tuple[str, str]]:
    if user_id:  # names change; the id does not
        return [(platform, "id:" + user_id)]
    return [(platform, "name:" + user.casefold())] if user else []


class Bans:
    """Users banned or timed out, each until their ban ends.

    Parameters
    ----------
    capacity:
        Bans remembered at most (the table is keyed by outside input); when full, the ban
        that ends first makes room (permanent ones last).
    """

    def __init__(self, capacity: int = 10_000):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._until: dict[tuple[str, str], float] = {}

    def __len__(self) -> int:
        return len(self._until)

    def add(self, removal: Removal, now: float) -> bool:
        """Remember the ban in ``removal``; False when it bans nobody."""
        if not removal.bans:
            return False
        until = now + removal.duration_s if removal.duration_s > 0 else math.inf
        for key in _keys(removal.platform, removal.user_id, removal.user):
            self._until[key] = max(until, self._until.get(key, until))
        self.expire(now)
        while len(self._until) > self.capacity:
            del self._until[min(self._until, key=self._until.__getitem__)]
        return True

    def covers(self, msg: ChatMessage, now: float) -> bool:
        """True while a ban on the author of ``msg`` lasts."""
        keys = _keys(msg.platform, msg.user_id, "") + _keys(msg.platform, "", msg.user)
        for key in keys:
            until = self._until.get(key)
            if until is not None:
                if now < until:
                    return True
                del self._until[key]
        return False

    def expire(self, now: float) -> None:
        """Forget bans that ended."""
        for key in [k for k, until in self._until.items() if until <= now]:
            del self._until[key]
