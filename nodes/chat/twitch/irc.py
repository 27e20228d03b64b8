"""Twitch IRC lines in, `ChatMessage` and removals out: pure parsing, no sockets.

A line is ``[@tags ][:prefix ]COMMAND [params] [:trailing]`` (RFC 1459 with IRCv3 message
tags). Tag values are escaped: ``\\s`` space, ``\\:`` semicolon, ``\\\\`` backslash, ``\\r``
and ``\\n``. What Twitch sends is documented at https://dev.twitch.tv/docs/irc/tags/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus.errors import WireError
from messages.chat import ChatKind, ChatMessage, Emote
from nodes.chat.removal import Removal

__all__ = [
    "IrcLine",
    "IrcParseError",
    "escape_tag_value",
    "format_line",
    "parse_line",
    "to_chat_message",
    "to_removal",
    "unescape_tag_value",
]

_UNESCAPES = {"s": " ", ":": ";", "\\": "\\", "r": "\r", "n": "\n"}

# USERNOTICE msg-id -> our kind (others, e.g. announcement, are "system")
_NOTICE_KINDS: dict[str, ChatKind] = {
    "sub": "sub",
    "resub": "sub",
    "subgift": "gift",
    "submysterygift": "gift",
    "anonsubgift": "gift",
    "giftpaidupgrade": "sub",
    "anongiftpaidupgrade": "sub",
    "primepaidupgrade": "sub",
    "raid": "raid",
}


class IrcParseError(WireError):
    """A line that is not IRC."""


@dataclass(frozen=True)
class IrcLine:
    """One parsed IRC line."""

    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    prefix: str = ""

    @property
    def nick(self) -> str:
        """The sender's login, from ``nick!user@host``."""
        return self.prefix.split("!", 1)[0]

    @property
    def channel(self) -> str:
        """The first parameter without its ``#``, when it names a channel."""
        return self.params[0][1:] if self.params and self.params[0].startswith("#") else ""

    @property
    def trailing(self) -> str:
        return self.params[-1] if len(self.params) > 1 else ""


def unescape_tag_value(value: str) -> str:
    """Undo IRCv3 tag escaping (an unknown escape keeps the character, a trailing ``\\`` goes)."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        out.append(_UNESCAPES.get(nxt, nxt))
    return "".join(out)


def escape_tag_value(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\:").replace(" ", "\\s")
            .replace("\r", "\\r").replace("\n", "\\n"))


def parse_line(line: str) -> IrcLine:
    """Parse one line (without or with its ``\\r\\n``).

    Raises
    ------
    IrcParseError
        The line is empty or has no command.
    """
    rest = line.rstrip("\r\n")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        for item in raw_tags.split(";"):
            key, _, value = item.partition("=")
            if key:
                tags[key] = unescape_tag_value(value)
    rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
    middle, sep, trailing = rest.lstrip(" ").partition(" :")
    if middle.startswith(":"):  # no middle params: "CMD :trailing" was split at the wrong place
        middle, sep, trailing = "", " :", middle[1:]
    words = middle.split()
    if not words:
        raise IrcParseError(f"no IRC command in {line[:80]!r}")
    params = words[1:]
    if sep:
        params.append(trailing)
    return IrcLine(words[0].upper(), params, tags, prefix)


def format_line(command: str, *params: str, tags: dict[str, str] | None = None,
                prefix: str = "") -> str:
    """Build a line (no ``\\r\\n``); the last parameter is always sent as trailing."""
    parts: list[str] = []
    if tags:
        parts.append("@" + ";".join(f"{k}={escape_tag_value(v)}" for k, v in tags.items()))
    if prefix:
        parts.append(":" + prefix)
    parts.append(command)
    if params:
        *middle, last = params
        parts.extend(middle)
        parts.append(":" + last)
    return " ".join(parts)


def _badges(value: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in value.split(","):
        name, _, version = item.partition("/")
        if name:
            found[name] = version
    return found


def _roles(tags: dict[str, str]) -> list[str]:
    badges = _badges(tags.get("badges", ""))
    roles: list[str] = []
    if "broadcaster" in badges:
        roles.append("broadcaster")
    if tags.get("mod") == "1" or "moderator" in badges:
        roles.append("moderator")
    if "vip" in badges or "vip" in tags:
        roles.append("vip")
    if tags.get("subscriber") == "1" or "subscriber" in badges or "founder" in badges:
        roles.append("subscriber")
    if tags.get("first-msg") == "1":
        roles.append("first_time")
    if tags.get("returning-chatter") == "1":
        roles.append("returning")
    return roles


def _emotes(value: str) -> list[Emote]:
    """``25:0-4,12-16/1902:6-10`` -> one Emote per occurrence, ordered by position."""
    emotes: list[Emote] = []
    for group in value.split("/"):
        emote_id, _, ranges = group.partition(":")
        for span in ranges.split(","):
            start, _, end = span.partition("-")
            first, last = _int(start, -1), _int(end, -1)
            if emote_id and 0 <= first <= last:
                emotes.append(Emote(id=emote_id, start=first, end=last))
    emotes.sort(key=lambda e: e.start)
    return emotes


def _named(emotes: list[Emote], text: str) -> list[Emote]:
    return [Emote(id=e.id, name=text[e.start:e.end + 1], start=e.start, end=e.end)
            for e in emotes]


_MAX_COUNT = 2**31 - 1
_MAX_SENT_MS = (2**63 - 1) // 1_000_000  # sent_ns must fit msgpack's int64


def _int(value: str | None, default: int = 0, *, limit: int = _MAX_COUNT) -> int:
    """A tag's non-negative decimal number; ``default`` for anything else (``--5``, ``²``,
    a number no real tag carries: it could not even be published)."""
    if not value or not (value.isascii() and value.isdigit()) or len(value) > 19:
        return default
    number = int(value)
    return number if number <= limit else default


def to_chat_message(line: IrcLine) -> ChatMessage | None:
    """The ChatMessage for a PRIVMSG or USERNOTICE; None for every other command."""
    if line.command not in ("PRIVMSG", "USERNOTICE"):
        return None
    tags = line.tags
    text = line.trailing
    if text.startswith("\x01ACTION ") and text.endswith("\x01"):  # /me
        text = text[8:-1]
    login = tags.get("login") or line.nick
    kind: ChatKind = "text"
    amount, currency, months, count = 0.0, "", 0, 0
    if line.command == "USERNOTICE":
        msg_id = tags.get("msg-id", "")
        kind = _NOTICE_KINDS.get(msg_id, "system")
        months = _int(tags.get("msg-param-cumulative-months") or tags.get("msg-param-months"))
        if kind == "raid":
            amount, currency = float(_int(tags.get("msg-param-viewerCount"))), "VIEWERS"
        elif kind == "gift":
            count = _int(tags.get("msg-param-mass-gift-count")) or 1
        if not text:  # a sub with no message: the system text says what happened
            text = tags.get("system-msg", "")
    elif tags.get("bits"):
        kind, amount, currency = "bits", float(_int(tags["bits"])), "BITS"
    sent_ms = _int(tags.get("tmi-sent-ts"), limit=_MAX_SENT_MS)
    return ChatMessage(
        platform="twitch",
        user=tags.get("display-name") or login,
        text=text,
        channel=line.channel,
        user_id=tags.get("user-id", ""),
        roles=_roles(tags),
        kind=kind,
        amount=amount,
        currency=currency,
        emotes=_named(_emotes(tags.get("emotes", "")), text),
        id=tags.get("id", ""),
        sent_ns=sent_ms * 1_000_000,
        months=months,
        count=count,
    )


def to_removal(line: IrcLine) -> Removal | None:
    """The Removal for CLEARCHAT (timeout, ban, clear) or CLEARMSG; None otherwise."""
    if line.command == "CLEARMSG":
        return Removal("twitch", line.channel, message_id=line.tags.get("target-msg-id", ""),
                       user=line.tags.get("login", ""))
    if line.command == "CLEARCHAT":
        duration = _int(line.tags.get("ban-duration"))
        return Removal("twitch", line.channel, user=line.trailing.lower(),
                       user_id=line.tags.get("target-user-id", ""), duration_s=float(duration))
    return None
