"""The ``!forget`` chat command: who may make the memory forget whom.

``!forget`` (or ``!forget me``) forgets the viewer who wrote it. ``!forget @name`` or
``!forget platform:user_id`` forgets someone else and needs the broadcaster or a moderator;
a name is resolved through the viewers seen in chat (`ViewerDirectory`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from messages.chat import ChatMessage

__all__ = ["ForgetCommand", "ViewerDirectory", "parse_forget", "viewer_key"]

STAFF_ROLES = frozenset({"broadcaster", "moderator"})


def viewer_key(platform: str, user_id: str) -> str:
    """The memory key of a viewer: ``platform:user_id``."""
    return f"{platform}:{user_id}"


class ViewerDirectory:
    """The last ``capacity`` viewers seen in chat, by platform and lower-case display name."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._by_name: OrderedDict[tuple[str, str], str] = OrderedDict()

    def saw(self, msg: ChatMessage) -> None:
        if not msg.user_id:
            return
        key = (msg.platform, msg.user.lower())
        self._by_name[key] = viewer_key(msg.platform, msg.user_id)
        self._by_name.move_to_end(key)
        while len(self._by_name) > self.capacity:
            self._by_name.popitem(last=False)

    def find(self, platform: str, name: str) -> str | None:
        return self._by_name.get((platform, name.lower()))


@dataclass(frozen=True)
class ForgetCommand:
    """What a ``!forget`` message leads to: forget ``viewer`` (empty: refused), say ``reply``."""

    viewer: str
    reply: str


def parse_forget(msg: ChatMessage, directory: ViewerDirectory,
                 command: str = "!forget") -> ForgetCommand | None:
    """The command in ``msg``, or None when ``msg`` is not a ``!forget`` command."""
    words = msg.text.split()
    if not words or words[0].lower() != command.lower():
        return None
    author = viewer_key(msg.platform, msg.user_id) if msg.user_id else ""
    target = words[1] if len(words) > 1 else "me"
    if target.lower() == "me":
        if not author:
            return ForgetCommand("", f"@{msg.user} I can't tell who you are on {msg.platform}, "
                                     "so I can't forget you")
        return ForgetCommand(author, f"@{msg.user} done: I have forgotten everything about you")
    if ":" in target:
        viewer = target
    else:
        viewer = directory.find(msg.platform, target.lstrip("@")) or ""
        if not viewer:
            return ForgetCommand("", f"@{msg.user} I don't know a viewer called {target}")
    if viewer != author and not STAFF_ROLES & set(msg.roles):
        return ForgetCommand("", f"@{msg.user} only the broadcaster or a moderator can make "
                                 "me forget someone else")
    return ForgetCommand(viewer, f"@{msg.user} done: I have forgotten everything about {target}")
