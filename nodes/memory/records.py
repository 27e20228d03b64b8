"""What one memory is: its text and the tags every entry carries."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Kind", "MemoryRecord"]

Kind = Literal["turn", "chat", "summary", "fact"]


class MemoryRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One memory, as journaled and stored.

    Attributes
    ----------
    id:
        Unique and stable: the turn id, ``chat:<platform>:<message id>``, ``summary:...``.
    text:
        What is remembered (``speaker: words`` for turns and chat lines).
    kind:
        ``turn``, ``chat``, ``summary`` or ``fact``.
    persona:
        The persona who spoke or was addressed; empty for memories every persona shares.
    viewer:
        ``platform:user_id`` of the viewer it is about; empty for none (show memories).
    stream:
        The stream (broadcast) it happened in.
    speaker:
        Who said it (a persona, a viewer's display name, the collaborator).
    stamp_ns:
        When it was said, ``time.time_ns()`` scale.
    source_turn:
        The turn (or chat message) id it comes from; for summaries the first turn summarised.
    cut_off:
        The turn was interrupted: ``text`` holds only the words actually heard.
    """

    id: str
    text: str
    kind: Kind
    persona: str = ""
    viewer: str = ""
    stream: str = ""
    speaker: str = ""
    stamp_ns: int = 0
    source_turn: str = ""
    cut_off: bool = False
