"""Chat lines as a platform source publishes them on ``chat/incoming``, for tests of the
pure chat and memory logic and of the nodes that read chat."""

from __future__ import annotations

import itertools

from messages.chat import ChatKind, ChatMessage, Emote, Platform

__all__ = ["chat_line"]

_ids = itertools.count(1)


def chat_line(text: str = "hello there", *, user: str = "viewer", user_id: str | None = None,
              platform: Platform = "twitch", msg_id: str | None = None,
              roles: list[str] | None = None, kind: ChatKind = "text", amount: float = 0.0,
              persona: str = "", emotes: list[Emote] | None = None,
              channel: str = "") -> ChatMessage:
    """One chat line. ``user_id`` defaults to ``user`` and ``msg_id`` to a fresh id (``m1``,
    ``m2``...), as every platform gives both; pass ``""`` for a line that has none."""
    return ChatMessage(platform=platform, user=user, text=text,
                       user_id=user if user_id is None else user_id,
                       id=f"m{next(_ids)}" if msg_id is None else msg_id,
                       roles=roles or [], kind=kind, amount=amount, persona=persona,
                       emotes=emotes or [], channel=channel)
