"""The YouTube source against the loopback Data API: pages, intervals, errors, replies."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fakes.youtube import CHAT_ID, FakeYouTube, item

from bus.testing import wait_until
from messages.chat import ChatMessage
from nodes.chat.credentials import Secrets
from nodes.chat.quota import next_pacific_midnight
from nodes.chat.removal import Removal
from nodes.chat.sources import SourceHooks
from nodes.chat.sources.youtube import YouTubeSettings, YouTubeSource

API_KEY = "AIzaFakeKey-0123456789"


def text(msg_id: str, words: str, author: str = "Viewer") -> dict[str, Any]:
    return item("textMessageEvent", msg_id, author=author, display=words,
                textMessageDetails={"messageText": words})


class Reader:
    def __init__(self, settings: YouTubeSettings, secrets: Secrets):
        self.messages: list[ChatMessage] = []
        self.removals: list[Removal] = []
        self.counts: Counter[str] = Counter()
        self.source = YouTubeSource(settings, SourceHooks(
            self.messages.append, self.removals.append, counts=self.counts, secrets=secrets))
        self.task: asyncio.Task[None] | None = None


@pytest.fixture
def youtube() -> Iterator[FakeYouTube]:
    with FakeYouTube() as fake:
        yield fake


@contextlib.asynccontextmanager
async def reading(youtube: FakeYouTube, *, api_key: str = API_KEY, oauth_token: str = "",
                  before_start: Callable[[], object] = lambda: None,
                  **settings: object) -> AsyncIterator[Reader]:
    """The source reading ``youtube`` with the key or token in its environment;
    ``before_start`` runs once it has read them, before its first poll."""
    environ = {"YOUTUBE_OAUTH_TOKEN": oauth_token} if oauth_token else {
        "YOUTUBE_API_KEY": api_key}
    options: dict[str, object] = {"live_chat_id": CHAT_ID, "api_base": youtube.base,
                                  "daily_quota": 10**9, "backoff_initial_s": 0.05, **settings}
    reader = Reader(YouTubeSettings(**options), Secrets(environ))  # type: ignore[arg-type]
    before_start()
    reader.task = asyncio.get_running_loop().create_task(reader.source.run())
    try:
        yield reader
    finally:
        reader.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader.task
        await reader.source.close()


class TestPolling:
    async def test_pages_tokens_and_intervals(self, youtube: FakeYouTube) -> None:
        youtube.push_page([text("m1", "first"), text("m2", "second")], "tok-1", polling_ms=300)
        youtube.push_page([text("m3", "third")], "tok-2", polling_ms=50)
        async with reading(youtube) as reader:
            await wait_until(lambda: len(youtube.gets()) >= 3, what="three polls")
            assert [m.text for m in reader.messages] == ["first", "second", "third"]
        gets = youtube.gets()
        assert [g.params.get("pageToken") for g in gets[:3]] == [None, "tok-1", "tok-2"]
        assert gets[0].params["liveChatId"] == CHAT_ID
        assert gets[0].params["part"] == "snippet,authorDetails"
        # pollingIntervalMillis honoured: the next poll waits at least that long
        assert gets[1].at - gets[0].at >= 0.3
        assert reader.counts["youtube_polls"] >= 2  # the third answer may still travel

    async def test_history_on_the_first_page_is_skipped(self, youtube: FakeYouTube) -> None:
        old = "2024-05-01T18:30:00.000+00:00"
        youtube.push_page([item("textMessageEvent", "h1", published=old, display="old",
                                textMessageDetails={"messageText": "old"}),
                           text("m1", "new")], "tok-1")
        youtube.push_page([item("textMessageEvent", "m2", published=old, display="late",
                                textMessageDetails={"messageText": "late but live"})], "tok-2")
        async with reading(youtube) as reader:
            await wait_until(lambda: len(reader.messages) == 2, what="two live messages")
            assert [m.text for m in reader.messages] == ["new", "late but live"]
            assert reader.counts["youtube_history_skipped"] == 1

    async def test_key_travels_in_a_header_not_the_url(self, youtube: FakeYouTube) -> None:
        async with reading(youtube):
            await wait_until(lambda: youtube.gets(), what="a poll")
        request = youtube.gets()[0]
        assert request.headers["x-goog-api-key"] == API_KEY
        assert API_KEY not in str(request.params)

    async def test_deletions_and_bans(self, youtube: FakeYouTube) -> None:
        youtube.push_page([
            text("m1", "bad words", author="Troll"),
            item("messageDeletedEvent", "d1", author="Mod", moderator=True,
                 messageDeletedDetails={"deletedMessageId": "m1"}),
            item("userBannedEvent", "b1", author="Mod", moderator=True, userBannedDetails={
                "bannedUserDetails": {"channelId": "UCtroll", "channelUrl": "",
                                      "displayName": "Troll", "profileImageUrl": ""},
                "banType": "permanent"}),
        ], "tok-1")
        async with reading(youtube) as reader:
            await wait_until(lambda: len(reader.removals) == 2, what="two removals")
        assert reader.removals[0].message_id == "m1"
        assert reader.removals[1].user_id == "UCtroll"

    async def test_chat_ended_event_stops_polling(self, youtube: FakeYouTube) -> None:
        youtube.push_page([item("chatEndedEvent", "e1")], "tok-1")
        async with reading(youtube) as reader:
            assert reader.task is not None
            await asyncio.wait_for(asyncio.shield(reader.task), 5)
            assert reader.source.ended
        assert len(youtube.gets()) == 1


class TestErrors:
    # each documented "the chat cannot be read" error stops the source
    @pytest.mark.parametrize(
        ("code", "reason"),
        [(403, "liveChatEnded"), (404, "liveChatNotFound"), (403, "liveChatDisabled"),
         (403, "forbidden")],
    )
    async def test_fatal(self, youtube: FakeYouTube, code: int, reason: str,
                         caplog: pytest.LogCaptureFixture) -> None:
        youtube.push_error(code, reason)
        async with reading(youtube) as reader:
            assert reader.task is not None
            await asyncio.wait_for(asyncio.shield(reader.task), 5)
            assert reader.counts[f"youtube_error_{reason}"] == 1
        assert len(youtube.gets()) == 1
        assert f"cannot be read: {reason} (HTTP {code}); stopping" in caplog.text

    async def test_rate_limit_backs_off_and_recovers(self, youtube: FakeYouTube) -> None:
        youtube.push_error(403, "rateLimitExceeded")
        youtube.push_error(403, "rateLimitExceeded")
        youtube.push_page([text("m1", "after the storm")], "tok-1")
        async with reading(youtube, backoff_initial_s=0.1) as reader:
            await wait_until(lambda: reader.messages, what="a message after backing off")
        gets = youtube.gets()
        assert reader.counts["youtube_error_rateLimitExceeded"] == 2
        # doubling backoff: 0.1 s, then 0.2 s
        assert gets[1].at - gets[0].at >= 0.1
        assert gets[2].at - gets[1].at >= 0.2

    async def test_rate_limit_waits_at_least_the_polling_interval(
        self, youtube: FakeYouTube
    ) -> None:
        # issue 14 item 11: the retry after rateLimitExceeded came after the 0.05 s backoff
        # although the server had asked for 0.4 s between polls
        youtube.push_page([text("m1", "hello")], "tok-1", polling_ms=400)
        youtube.push_error(403, "rateLimitExceeded")
        youtube.push_page([text("m2", "after the limit")], "tok-2")
        async with reading(youtube, backoff_initial_s=0.05) as reader:
            await wait_until(lambda: len(reader.messages) == 2, what="the message after")
        gets = youtube.gets()
        assert gets[2].at - gets[1].at >= 0.4

    async def test_quota_exceeded_waits_for_the_reset(self, youtube: FakeYouTube,
                                                      caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING)
        youtube.push_error(403, "quotaExceeded")
        async with reading(youtube) as reader:
            await wait_until(lambda: reader.counts["youtube_error_quotaExceeded"], what="quota")
            await asyncio.sleep(0.3)
            assert reader.source.budget.remaining(time.time()) == 0
            assert not reader.task.done()  # type: ignore[union-attr]
        assert len(youtube.gets()) == 1  # no poll until midnight Pacific
        resumes = dt.datetime.fromtimestamp(next_pacific_midnight(time.time()),
                                            ZoneInfo("America/Los_Angeles"))
        # issue 14 item 11: the warning says when polling resumes
        assert f"daily quota exceeded; polling resumes at {resumes:%Y-%m-%d %H:%M %Z}" in (
            caplog.text)

    async def test_own_budget_paces_polls(self, youtube: FakeYouTube) -> None:
        # 10 units left: two polls, then the source waits for tomorrow
        async with reading(youtube, daily_quota=10) as reader:
            await wait_until(lambda: len(youtube.gets()) >= 1, what="a poll")
            await asyncio.sleep(0.3)
            assert reader.counts["youtube_quota_wait"] == 0
        assert len(youtube.gets()) == 1  # the second poll is paced hours away

    async def test_malformed_items_are_skipped(self, youtube: FakeYouTube,
                                               caplog: pytest.LogCaptureFixture) -> None:
        youtube.push_page([{"id": "junk"}, "not an object", text("m1", "fine")],  # type: ignore[list-item]
                          "tok-1")
        async with reading(youtube) as reader:
            await wait_until(lambda: reader.messages, what="the good item")
            assert reader.counts["youtube_bad_items"] == 2
        assert caplog.text.count("skipped an item without a snippet") == 1

    async def test_expired_oauth_token_is_reread(self, youtube: FakeYouTube,
                                                 tmp_path: Path) -> None:
        youtube.bearer = "ya29.renewed"
        youtube.push_page([text("m1", "with the new token")], "tok-1")
        token_file = tmp_path / "youtube.oauth"
        token_file.write_text("ya29.expired\n")
        async with reading(youtube, oauth_file=str(token_file),  # then renewed outside
                           before_start=lambda: token_file.write_text("ya29.renewed\n")
                           ) as reader:
            await wait_until(lambda: reader.messages, what="a message after the refresh")
            assert reader.counts["youtube_token_refreshed"] == 1
        gets = youtube.gets()
        assert [g.headers["authorization"] for g in gets[:2]] == [
            "Bearer ya29.expired", "Bearer ya29.renewed"]

    async def test_expired_token_without_a_new_one_stops(self, youtube: FakeYouTube,
                                                         tmp_path: Path) -> None:
        youtube.bearer = "ya29.renewed"
        token_file = tmp_path / "youtube.oauth"
        token_file.write_text("ya29.expired\n")
        async with reading(youtube, oauth_file=str(token_file)) as reader:
            assert reader.task is not None
            await asyncio.wait_for(asyncio.shield(reader.task), 5)
            assert reader.counts["youtube_error_authError"] == 1

    async def test_server_error_page_is_retried(self, youtube: FakeYouTube) -> None:
        youtube.push_error(503, "backendError")
        youtube.push_page([text("m1", "back")], "tok-1")
        async with reading(youtube) as reader:
            await wait_until(lambda: reader.messages, what="a message after a 503")


class TestReplies:
    async def test_oauth_posts(self, youtube: FakeYouTube) -> None:
        async with reading(youtube, oauth_token="ya29.fake-oauth") as reader:
            assert reader.source.can_send
            assert await reader.source.say("thanks for the super chat!")
        posts = [r for r in youtube.requests if r.method == "POST"]
        assert posts[0].headers["authorization"] == "Bearer ya29.fake-oauth"
        assert posts[0].body["snippet"]["textMessageDetails"]["messageText"] == (
            "thanks for the super chat!")
        assert posts[0].body["snippet"]["liveChatId"] == CHAT_ID

    async def test_own_replies_do_not_come_back_as_chat(self, youtube: FakeYouTube) -> None:
        # issue 14 item 11: the list returns the channel's own messages; every reply came
        # back as a broadcaster's message, ahead of the viewers
        async with reading(youtube, oauth_token="ya29.fake-oauth") as reader:
            for i in range(3):
                assert await reader.source.say(f"reply {i}")
            youtube.push_page([text("v1", "a viewer"), text("v2", "another viewer")], "tok-1")
            await wait_until(lambda: len(reader.messages) == 2 and not youtube.inserted,
                             what="the viewers and the echoes")
            await wait_until(lambda: reader.counts["youtube_own_skipped"] == 3,
                             what="three echoes skipped")
            assert [m.text for m in reader.messages] == ["a viewer", "another viewer"]
            assert reader.source.own.channel_id == youtube.poster_channel_id
            # the broadcaster typing in chat with the same account is still heard
            youtube.push_page([item("textMessageEvent", "h1", author=youtube.poster_name,
                                    channel_id=youtube.poster_channel_id, owner=True,
                                    textMessageDetails={"messageText": "hi from the human"})],
                              "tok-2")
            await wait_until(lambda: len(reader.messages) == 3, what="the human's message")
            assert reader.messages[-1].roles == ["broadcaster"]

    async def test_api_key_cannot_post(self, youtube: FakeYouTube) -> None:
        async with reading(youtube) as reader:
            assert not await reader.source.say("hello")
            assert reader.counts["youtube_say_refused"] == 1
