"""Chat in and out: one normalised message for Twitch, YouTube and the console."""

from __future__ import annotations

from typing import Literal

from messages.base import Message, service_type

__all__ = [
    "ChatKind",
    "ChatMessage",
    "ChatNext",
    "ChatNextRequest",
    "ChatNextResponse",
    "ChatSay",
    "Emote",
    "Platform",
]

Platform = Literal["twitch", "youtube", "console", "bag", "minecraft"]
"""Where a line was written; ``minecraft``: a game's own chat (the game node relays it)."""
ChatKind = Literal[
    "text", "bits", "superchat", "sticker", "sub", "gift", "raid", "member", "system"
]


class Emote(Message, tag="chat.Emote"):
    """An emote inside ``ChatMessage.text``: characters ``start`` to ``end`` inclusive."""

    id: str
    name: str = ""
    start: int = 0
    end: int = 0


class ChatMessage(Message, tag="chat.ChatMessage"):
    """One chat event from any platform.

    Attributes
    ----------
    platform, user, text:
        Where it came from, the author's display name, what they wrote.
    channel:
        Twitch channel login or YouTube live chat id.
    user_id:
        The platform's stable id for the author (memory keys on platform + user_id).
    roles:
        Any of ``broadcaster``, ``moderator``, ``vip``, ``subscriber``, ``member``, ``first_time``,
        ``returning``.
    kind:
        What the event is; paid kinds carry ``amount`` and ``currency``.
    amount:
        Money in ``currency`` units (bits count as ``"BITS"``; raids count viewers as
        ``"VIEWERS"``).
    id:
        The platform's message id (needed to honour moderator deletions).
    sent_ns:
        When the platform says it was sent, ``time.time_ns()`` scale; 0 if unknown.
    months, count:
        Subscription months (sub/resub, member milestone) and how many subs were gifted.
    persona:
        The persona the message is addressed to (``!ask <persona> ...``); empty for anyone.
    command:
        The chat command the message invoked (``ask``, ``persona``...), without the ``!``.
    """

    platform: Platform
    user: str
    text: str
    channel: str = ""
    user_id: str = ""
    roles: list[str] = []
    kind: ChatKind = "text"
    amount: float = 0.0
    currency: str = ""
    emotes: list[Emote] = []
    id: str = ""
    sent_ns: int = 0
    months: int = 0
    count: int = 0
    persona: str = ""
    command: str = ""


class ChatSay(Message, tag="chat.ChatSay"):
    """Post ``text`` to chat; ``platform`` empty means every connected platform."""

    text: str
    platform: str = ""
    channel: str = ""
    reply_to: str = ""


class ChatNextRequest(Message, tag="chat.ChatNextRequest"):
    """Ask the chat node for the best message not yet answered (optionally for one persona)."""

    persona: str = ""


class ChatNextResponse(Message, tag="chat.ChatNextResponse"):
    """The chosen message, or ``message=None`` when nothing is waiting."""

    message: ChatMessage | None = None
    waiting: int = 0


ChatNext = service_type("chat.Next", ChatNextRequest, ChatNextResponse)
