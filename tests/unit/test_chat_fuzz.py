"""Fuzzing what the chat node parses from outside (issue 14, item 14): Twitch IRC lines and
YouTube list pages. Any text is parsed or rejected with `IrcParseError`; any JSON-ish page
is mapped or rejected with `PageError` (any bytes: skipped and counted); never another
exception, and whatever is mapped is a message the node can publish.

Reproducible: a fixed derandomized search, bounded examples; a failure prints its blob.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import msgspec
import pytest
from fakes.youtube import item, page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messages.chat import ChatMessage
from nodes.chat.credentials import Secrets
from nodes.chat.removal import Removal
from nodes.chat.sources import SourceHooks
from nodes.chat.sources.youtube import (
    ChatEnded,
    PageError,
    YouTubeSettings,
    YouTubeSource,
    parse_page,
)
from nodes.chat.twitch.irc import IrcParseError, parse_line, to_chat_message, to_removal

pytestmark = pytest.mark.slow  # ~10 s each on a busy 2-core machine

FUZZ = settings(max_examples=300, derandomize=True, print_blob=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def publishable(msg: ChatMessage) -> None:
    """What the node publishes must encode, and decode back as the same type."""
    data = msgspec.msgpack.encode(msg)
    assert msgspec.msgpack.decode(data, type=ChatMessage) == msg


# -------------------------------------------------------------- Twitch IRC

# numbers as Twitch sends them, and as a hostile server might
numbers = st.one_of(st.integers(-(2**70), 2**70).map(str),
                    st.sampled_from(["", "-", "--5", "²", "٣", "1e5", " 7", "0x1f", "9" * 30]),
                    st.text(max_size=6))
tag_keys = st.sampled_from([
    "bits", "tmi-sent-ts", "emotes", "badges", "ban-duration", "msg-id", "login",
    "display-name", "id", "user-id", "target-msg-id", "target-user-id", "mod", "subscriber",
    "msg-param-cumulative-months", "msg-param-months", "msg-param-viewerCount",
    "msg-param-mass-gift-count", "system-msg", "first-msg", "returning-chatter", "vip"])
emote_values = st.lists(
    st.tuples(st.text("0123456789abc", max_size=4),
              st.lists(st.tuples(numbers, numbers), max_size=3)), max_size=3,
).map(lambda groups: "/".join(f"{i}:" + ",".join(f"{a}-{b}" for a, b in spans)
                              for i, spans in groups))
tag_values = st.one_of(numbers, emote_values, st.text(max_size=12),
                       st.sampled_from(["sub", "resub", "subgift", "raid", "broadcaster/1"]))


@st.composite
def irc_lines(draw: st.DrawFn) -> str:
    """Lines shaped like Twitch's events, with any tag values, prefixes and parameters."""
    parts: list[str] = []
    tags = draw(st.dictionaries(tag_keys, tag_values, max_size=8))
    tags.update(draw(st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=2)))
    if tags or draw(st.booleans()):
        parts.append("@" + ";".join(f"{k}={v}" for k, v in tags.items()))
    if draw(st.integers(0, 3)):
        parts.append(":" + draw(st.sampled_from(["u!u@u.tmi.twitch.tv", "tmi.twitch.tv"])
                                | st.text(max_size=20)))
    parts.append(draw(st.sampled_from(["PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG"])))
    parts.extend(draw(st.lists(st.sampled_from(["#xyz", "#"]) | st.text(max_size=10),
                               max_size=2)))
    if draw(st.integers(0, 3)):
        parts.append(":" + draw(st.sampled_from(["\x01ACTION waves\x01", "hi"])
                                | st.text(max_size=30)))
    return " ".join(parts)


def parsed_or_refused(raw: str) -> None:
    try:
        line = parse_line(raw)
    except IrcParseError:
        return
    msg = to_chat_message(line)
    if msg is not None:
        publishable(msg)
    removal = to_removal(line)
    if removal is not None:
        assert isinstance(removal, Removal) and 0 <= removal.duration_s < 2**63


class TestIrcLines:
    @FUZZ
    @given(st.text(max_size=300))
    def test_any_text_is_parsed_or_refused(self, raw: str) -> None:
        parsed_or_refused(raw)

    @FUZZ
    @given(irc_lines())
    def test_twitch_shaped_lines_map_to_publishable_events(self, raw: str) -> None:
        parsed_or_refused(raw)


# -------------------------------------------------------------- YouTube pages

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
                    st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=10,
)
KINDS = ["textMessageEvent", "superChatEvent", "superStickerEvent", "newSponsorEvent",
         "memberMilestoneChatEvent", "membershipGiftingEvent", "messageDeletedEvent",
         "userBannedEvent", "chatEndedEvent", "sponsorOnlyModeStartedEvent"]
DETAILS = ["textMessageDetails", "superChatDetails", "superStickerDetails",
           "memberMilestoneChatDetails", "membershipGiftingDetails", "messageDeletedDetails",
           "userBannedDetails"]


@st.composite
def damaged_items(draw: st.DrawFn) -> Any:
    """A documented item with some of its fields replaced by any JSON value."""
    resource = item(draw(st.sampled_from(KINDS)), draw(st.text(max_size=8)),
                    published=draw(st.sampled_from(["", "2024-05-01T18:30:00Z", "99999",
                                                    "0001-01-01T00:00:00+14:00"])))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["top", "snippet", "authorDetails"]))
        key = draw(st.sampled_from(["id", "snippet", "authorDetails", "type", "publishedAt",
                                    "displayName", "channelId", "isChatOwner", *DETAILS]))
        target = resource if where == "top" else resource[where]
        if isinstance(target, dict):
            target[key] = draw(json_values)
    return resource if draw(st.integers(0, 9)) else draw(json_values)


@st.composite
def pages(draw: st.DrawFn) -> Any:
    body: Any = page(draw(st.lists(damaged_items(), max_size=4)), draw(st.text(max_size=6)))
    if draw(st.booleans()):
        body[draw(st.sampled_from(["items", "nextPageToken", "pollingIntervalMillis",
                                   "offlineAt"]))] = draw(json_values)
    return body


class TestYouTubePages:
    @FUZZ
    @given(pages() | json_values)
    def test_any_page_is_mapped_or_refused(self, body: Any) -> None:
        try:
            parsed = parse_page(body)
        except PageError:
            return
        assert 0 <= parsed.polling_s <= 3600 and isinstance(parsed.next_page_token, str)
        for event in parsed.events:
            if isinstance(event, ChatMessage):
                publishable(event)
            else:
                assert isinstance(event, Removal | ChatEnded)

    @FUZZ
    @given(st.binary(max_size=200) | pages().map(lambda b: json.dumps(b).encode()))
    def test_any_bytes_are_skipped_or_handed_out(self, source: Reader, data: bytes) -> None:
        source.counts.clear()
        source.delivered.clear()
        wait = source.source._page(httpx.Response(200, content=data))
        assert wait >= 0
        assert source.counts["youtube_polls"] == 1
        for msg in source.delivered:
            publishable(msg)


class Reader:
    """One source for every example (its HTTP client costs ~0.1 s to make)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.delivered: list[ChatMessage] = []
        self.source = YouTubeSource(YouTubeSettings(live_chat_id="c"), SourceHooks(
            self.delivered.append, counts=self.counts,
            secrets=Secrets({"YOUTUBE_API_KEY": "k"})))


@pytest.fixture(scope="module")
def source() -> Reader:
    return Reader()
