"""Spam tests on one message's text: links, walls of caps or emotes, repeats, a blocklist."""

from __future__ import annotations

import re
from collections.abc import Iterable

from messages.chat import ChatMessage

__all__ = ["SpamRules", "normalise"]

_LINK = re.compile(
    r"(?i)(?:https?://|www\.)\S+"
    r"|\b[a-z0-9][a-z0-9-]*\.(?:com|net|org|io|gg|tv|ly|me|co|xyz|ru|info|link|shop|live)\b"
)


def normalise(text: str) -> str:
    """The text as compared for duplicates: case-folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


class SpamRules:
    """Compiled spam tests; `reason` names the first one a message fails, or None.

    Parameters
    ----------
    blocklist:
        Words or phrases refused anywhere in a message (whole words, any case).
    max_caps_ratio, caps_min_letters:
        A message with at least ``caps_min_letters`` letters, more than this share upper case.
    max_emotes:
        More emotes than this is a wall of emotes.
    max_repeat_run:
        The same character this many times in a row (``aaaaaaaaaaaa``).
    links_allowed_roles:
        Roles whose links pass (moderators post links on purpose).
    """

    def __init__(
        self,
        *,
        blocklist: Iterable[str] = (),
        max_caps_ratio: float = 0.7,
        caps_min_letters: int = 12,
        max_emotes: int = 8,
        max_repeat_run: int = 12,
        links_allowed_roles: Iterable[str] = ("broadcaster", "moderator", "vip"),
    ):
        words = [re.escape(normalise(w)) for w in blocklist if w.strip()]
        self._blocked = re.compile(r"\b(?:" + "|".join(words) + r")\b") if words else None
        self.max_caps_ratio = max_caps_ratio
        self.caps_min_letters = caps_min_letters
        self.max_emotes = max_emotes
        self._repeat = re.compile(r"(.)\1{" + str(max(1, max_repeat_run - 1)) + ",}", re.DOTALL)
        self.links_allowed_roles = frozenset(links_allowed_roles)

    def blocked(self, text: str) -> bool:
        return self._blocked is not None and self._blocked.search(normalise(text)) is not None

    def reason(self, msg: ChatMessage) -> str | None:
        """``link``, ``caps``, ``emotes`` or ``repeats``; None when the message is clean."""
        text = msg.text
        if _LINK.search(text) and not self.links_allowed_roles.intersection(msg.roles):
            return "link"
        letters = [c for c in text if c.isalpha()]
        if len(letters) >= self.caps_min_letters:
            upper = sum(1 for c in letters if c.isupper())
            if upper / len(letters) > self.max_caps_ratio:
                return "caps"
        if len(msg.emotes) > self.max_emotes:
            return "emotes"
        if self._repeat.search(text):
            return "repeats"
        words = text.casefold().split()
        if len(words) >= 8 and len(set(words)) * 4 <= len(words):  # "lol lol lol lol ..."
            return "repeats"
        return None
