"""The avatars: the state of each persona's link to VTube Studio and what its face shows."""

from __future__ import annotations

from typing import Literal

from messages.base import Message

__all__ = ["AvatarState"]


class AvatarState(Message, tag="avatar.AvatarState"):
    """A change in one avatar (``avatar/state``): its VTS link, model or emotion.

    ``link`` is ``searching`` (listening for VTS broadcasts), ``connecting``, ``ready``
    (authenticated and driven), ``denied`` (the user refused the plugin in VTS) or ``down``.
    """

    persona: str
    link: Literal["searching", "connecting", "ready", "denied", "down"] = "down"
    detail: str = ""
    model: str = ""
    emotion: str = "neutral"
    sessions: int = 0
    """Sessions opened with VTS so far (more than 1 means it reconnected)."""
