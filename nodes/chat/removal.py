"""A moderator's removal, the same for every platform (Twitch CLEARCHAT/CLEARMSG, YouTube
messageDeletedEvent/userBannedEvent)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Removal"]


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
