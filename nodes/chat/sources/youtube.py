"""YouTube Live Chat through the Data API v3: poll ``liveChatMessages.list`` and post replies.

The loop waits ``pollingIntervalMillis`` between polls (or longer, so the day's quota lasts:
see `nodes.chat.quota`), follows ``nextPageToken``, and handles the documented errors:

- ``quotaExceeded`` (403): nothing more today; sleep until the quota resets.
- ``rateLimitExceeded`` (403), 5xx, network errors: back off (doubling) and retry.
- ``liveChatEnded``, ``liveChatDisabled``, ``forbidden``, ``insufficientPermissions`` (403),
  ``liveChatNotFound`` (404), 401: the chat cannot be read; the source stops.
The API key goes in the ``X-goog-api-key`` header, the OAuth token in ``Authorization``, so
neither appears in a URL that a log line could show. OAuth access tokens last an hour: on a
401 the source asks ``refresh_token`` for the current one (the node re-reads its token file)
and carries on if it changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from bus.errors import VtError
from messages.chat import ChatKind, ChatMessage
from nodes.chat.quota import QuotaBudget
from nodes.chat.ratelimit import WindowLimiter
from nodes.chat.removal import Removal

__all__ = ["ChatEnded", "YouTubeSettings", "YouTubeSource", "api_error_reason", "to_event"]

LIST_COST = 5
INSERT_COST = 50
FATAL_REASONS = frozenset({
    "liveChatEnded", "liveChatNotFound", "liveChatDisabled", "forbidden",
    "insufficientPermissions", "authError", "unauthorized", "keyInvalid",
})
_MAX_BACKOFF_S = 300.0


class ChatEnded:
    """The chat is over (``chatEndedEvent`` or ``offlineAt``)."""


class YouTubeSettings(msgspec.Struct, kw_only=True):
    """How to read one YouTube live chat.

    Attributes
    ----------
    live_chat_id:
        The broadcast's ``snippet.liveChatId``.
    api_base:
        The API root (a loopback fake in tests).
    api_key, oauth_token:
        Either reads; only OAuth can post.
    daily_quota:
        Units the whole day may use (a shared project: give this source its share).
    quota_horizon_s:
        Spread the units left over this many seconds (about a stream's length) rather than
        until the reset; 0 spreads them until the reset.
    send_reserve:
        Units kept for replies.
    min_interval_s:
        Never poll faster than this, whatever the server says.
    history_s:
        The first page holds the chat's history: messages older than this are skipped
        (counted), so a node started mid-stream does not answer a backlog.
    """

    live_chat_id: str
    api_base: str = "https://www.googleapis.com/youtube/v3"
    api_key: str = ""
    oauth_token: str = ""
    daily_quota: int = 10_000
    quota_horizon_s: float = 4 * 3600.0
    send_reserve: int = 500
    min_interval_s: float = 0.0
    max_results: int = 500
    send_limit: int = 20
    send_window_s: float = 30.0
    backoff_initial_s: float = 1.0
    history_s: float = 60.0


def api_error_reason(response: httpx.Response) -> str:
    """The documented ``error.errors[0].reason`` of an error response, or ``http_<code>``."""
    try:
        body = response.json()
        errors = body["error"].get("errors") or []
        if errors and errors[0].get("reason"):
            return str(errors[0]["reason"])
        return str(body["error"].get("status") or f"http_{response.status_code}")
    except (ValueError, KeyError, AttributeError, TypeError):
        return f"http_{response.status_code}"


def _micros(value: Any) -> float:
    try:
        return int(value) / 1_000_000
    except (TypeError, ValueError):
        return 0.0


def _stamp_ns(value: Any) -> int:
    try:
        return int(dt.datetime.fromisoformat(str(value)).timestamp() * 1e9)
    except ValueError:
        return 0


def to_event(item: dict[str, Any]) -> ChatMessage | Removal | ChatEnded | None:
    """Map one ``liveChatMessage`` resource; None for an item without a snippet."""
    snippet = item.get("snippet")
    if not isinstance(snippet, dict):
        return None
    kind_name = snippet.get("type", "")
    chat_id = snippet.get("liveChatId", "")
    if kind_name == "messageDeletedEvent":
        deleted = snippet.get("messageDeletedDetails", {}).get("deletedMessageId", "")
        return Removal("youtube", chat_id, message_id=deleted)
    if kind_name == "userBannedEvent":
        details = snippet.get("userBannedDetails", {})
        banned = details.get("bannedUserDetails", {})
        return Removal("youtube", chat_id, user=banned.get("displayName", ""),
                       user_id=banned.get("channelId", ""),
                       duration_s=float(details.get("banDurationSeconds") or 0))
    if kind_name == "chatEndedEvent":
        return ChatEnded()
    author = item.get("authorDetails") or {}
    roles = [role for flag, role in (("isChatOwner", "broadcaster"),
                                     ("isChatModerator", "moderator"),
                                     ("isChatSponsor", "member")) if author.get(flag)]
    text = snippet.get("displayMessage", "")
    kind: ChatKind = "system"
    amount, currency, months, count = 0.0, "", 0, 0
    if kind_name == "textMessageEvent":
        kind = "text"
        text = snippet.get("textMessageDetails", {}).get("messageText", text)
    elif kind_name == "superChatEvent":
        details = snippet.get("superChatDetails", {})
        kind, text = "superchat", details.get("userComment", "")
        amount, currency = _micros(details.get("amountMicros")), details.get("currency", "")
    elif kind_name == "superStickerEvent":
        details = snippet.get("superStickerDetails", {})
        kind = "sticker"
        text = details.get("superStickerMetadata", {}).get("altText", text)
        amount, currency = _micros(details.get("amountMicros")), details.get("currency", "")
    elif kind_name == "newSponsorEvent":
        kind = "member"
    elif kind_name == "memberMilestoneChatEvent":
        details = snippet.get("memberMilestoneChatDetails", {})
        kind, text = "member", details.get("userComment", "") or text
        months = int(details.get("memberMonth") or 0)
    elif kind_name == "membershipGiftingEvent":
        kind = "gift"
        count = int(snippet.get("membershipGiftingDetails", {}).get("giftMembershipsCount") or 0)
    return ChatMessage(
        platform="youtube",
        user=author.get("displayName", ""),
        text=text,
        channel=chat_id,
        user_id=str(author.get("channelId") or snippet.get("authorChannelId") or ""),
        roles=roles,
        kind=kind,
        amount=amount,
        currency=currency,
        id=item.get("id", ""),
        sent_ns=_stamp_ns(snippet.get("publishedAt", "")),
        months=months,
        count=count,
    )


class YouTubeSource:
    """Polls one live chat into ``on_message`` / ``on_removal``; posts with OAuth.

    Parameters
    ----------
    settings:
        The chat and credentials.
    on_message, on_removal:
        Called for each chat event and each deletion or ban.
    counts:
        Where events are counted (``youtube_polls``, ``youtube_error_<reason>``...).
    refresh_token:
        Returns the current OAuth token; called when the server says 401.
    """

    platform = "youtube"

    def __init__(self, settings: YouTubeSettings, on_message: Callable[[ChatMessage], None],
                 on_removal: Callable[[Removal], None], *, counts: Counter[str] | None = None,
                 log: logging.Logger | None = None,
                 refresh_token: Callable[[], str] | None = None):
        self.settings = settings
        self.refresh_token = refresh_token
        self.on_message = on_message
        self.on_removal = on_removal
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.log = log or logging.getLogger("chat.youtube")
        self.budget = QuotaBudget(settings.daily_quota, time.time(),
                                  reserve=settings.send_reserve if settings.oauth_token else 0)
        self.limiter = WindowLimiter(settings.send_limit, settings.send_window_s)
        self.page_token = ""
        self.ended = False
        self._bad_logged = False
        headers = {"Accept": "application/json"}
        if settings.oauth_token:
            headers["Authorization"] = f"Bearer {settings.oauth_token}"
        elif settings.api_key:
            headers["X-goog-api-key"] = settings.api_key
        self._http = httpx.AsyncClient(base_url=settings.api_base.rstrip("/") + "/",
                                       headers=headers, timeout=15.0)

    @property
    def can_send(self) -> bool:
        return bool(self.settings.oauth_token) and not self.ended

    async def run(self) -> None:
        """Poll until the chat ends or cannot be read (returns), or until cancelled."""
        interval = 0.0
        backoff = self.settings.backoff_initial_s
        first = True
        while not self.ended:
            if not first:
                pace = self.budget.pace(LIST_COST, time.time(), self.settings.quota_horizon_s)
                await asyncio.sleep(max(interval, self.settings.min_interval_s, pace))
            first = False
            if not self.budget.spend(LIST_COST, time.time()):
                self.counts["youtube_quota_wait"] += 1
                interval = 0.0
                continue
            try:
                response = await self._http.get("liveChat/messages", params=self._params())
            except httpx.HTTPError as exc:
                self.counts["youtube_network_errors"] += 1
                self.log.warning("youtube: %s: %s; retrying in %.0f s", type(exc).__name__, exc,
                                 backoff)
                interval, backoff = backoff, min(_MAX_BACKOFF_S, backoff * 2)
                continue
            if response.status_code == 200:
                interval = self._page(response)
                backoff = self.settings.backoff_initial_s
                continue
            reason = api_error_reason(response)
            self.counts[f"youtube_error_{reason}"] += 1
            if response.status_code == 401 and self._refresh():
                interval = 0.0
            elif reason == "quotaExceeded":
                self.budget.exhaust(time.time())
                self.log.warning("youtube: daily quota exceeded; polling resumes at the reset")
                interval = 0.0
            elif reason in FATAL_REASONS or response.status_code in (401, 404):
                self.log.error("youtube: live chat %s cannot be read: %s (HTTP %d); stopping",
                               self.settings.live_chat_id, reason, response.status_code)
                self.ended = True
            else:  # rateLimitExceeded, backendError, 5xx: back off
                self.log.warning("youtube: %s (HTTP %d); retrying in %.0f s", reason,
                                 response.status_code, backoff)
                interval, backoff = backoff, min(_MAX_BACKOFF_S, backoff * 2)
        await self._http.aclose()

    def _refresh(self) -> bool:
        """Take a new OAuth token if there is one; False when nothing changed."""
        if self.refresh_token is None or not self.settings.oauth_token:
            return False
        try:
            token = self.refresh_token()
        except VtError as exc:
            self.log.warning("youtube: %s", exc)
            return False
        if token == self.settings.oauth_token:
            return False
        self.settings.oauth_token = token
        self._http.headers["Authorization"] = f"Bearer {token}"
        self.counts["youtube_token_refreshed"] += 1
        return True

    def _params(self) -> dict[str, str]:
        params = {"liveChatId": self.settings.live_chat_id, "part": "snippet,authorDetails",
                  "maxResults": str(self.settings.max_results)}
        if self.page_token:
            params["pageToken"] = self.page_token
        return params

    def _page(self, response: httpx.Response) -> float:
        """Hand out one page's items; returns the wait before the next poll."""
        self.counts["youtube_polls"] += 1
        try:
            body = response.json()
            items = body.get("items") or []
        except (ValueError, AttributeError):
            self._bad("youtube_bad_pages", "a page was not a JSON object")
            return 5.0
        oldest_ns = time.time_ns() - int(self.settings.history_s * 1e9)
        first_page = not self.page_token
        for item in items:
            event = to_event(item) if isinstance(item, dict) else None
            if isinstance(event, ChatMessage):
                if first_page and 0 < event.sent_ns < oldest_ns:
                    self.counts["youtube_history_skipped"] += 1
                    continue
                self.on_message(event)
            elif isinstance(event, Removal):
                self.on_removal(event)
            elif isinstance(event, ChatEnded):
                self.ended = True
            else:
                self._bad("youtube_bad_items", f"an item without a snippet: {str(item)[:80]}")
        self.page_token = body.get("nextPageToken") or self.page_token
        if body.get("offlineAt"):
            self.ended = True
        if self.ended:
            self.log.info("youtube: live chat %s ended", self.settings.live_chat_id)
        return max(0.0, float(body.get("pollingIntervalMillis") or 5000) / 1000)

    def _bad(self, counter: str, what: str) -> None:
        self.counts[counter] += 1
        if not self._bad_logged:
            self._bad_logged = True
            self.log.warning("youtube: skipped %s (logged once, counted as %s)", what, counter)

    async def say(self, text: str, *, reply_to: str = "") -> bool:
        """Post ``text`` (OAuth only; YouTube has no threaded replies, ``reply_to`` is
        unused); False (counted) when refused or out of quota."""
        if not self.can_send:
            self.counts["youtube_say_refused"] += 1
            return False
        await self.limiter.acquire()
        if not self.budget.spend(INSERT_COST, time.time(), use_reserve=True):
            self.counts["youtube_say_no_quota"] += 1
            return False
        body = {"snippet": {"liveChatId": self.settings.live_chat_id, "type": "textMessageEvent",
                            "textMessageDetails": {"messageText": text[:200]}}}
        try:
            response = await self._http.post("liveChat/messages", params={"part": "snippet"},
                                             json=body)
        except httpx.HTTPError as exc:
            self.counts["youtube_say_errors"] += 1
            self.log.warning("youtube: posting failed: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            self.counts[f"youtube_say_error_{api_error_reason(response)}"] += 1
            return False
        self.counts["youtube_say_sent"] += 1
        return True

    async def close(self) -> None:
        await self._http.aclose()
