"""The show's state: who has the floor and which persona is active."""

from __future__ import annotations

from messages.base import Message

__all__ = ["Persona", "Turn"]


class Turn(Message, tag="director.Turn"):
    """Who speaks now and why (``director/turn``, latched).

    ``why`` is one of ``chat``, ``addressed``, ``banter``, ``topic``, ``human``, ``command``.
    """

    speaker: str
    why: str = ""
    request_id: str = ""
    reply_to: str = ""
    """Id of the chat message or utterance being answered, if any."""


class Persona(Message, tag="director.Persona"):
    """The active persona (``persona/active``, latched)."""

    name: str
    avatar: str = ""
    voice: str = ""
