"""YouTube Live Chat through the Data API v3: poll ``liveChatMessages.list`` and post replies.

The loop waits ``pollingIntervalMillis`` between polls (or longer, so the day's quota lasts:
see `nodes.chat.quota`), follows ``nextPageToken``, and handles the documented errors:

- ``quotaExceeded`` (403): nothing more today; sleep until the quota resets (the warning
  says when, in Pacific time).
- ``rateLimitExceeded`` (403), 5xx, network errors: back off (doubling, and never sooner
  than the last ``pollingIntervalMillis``) and retry.
- ``liveChatEnded``, ``liveChatDisabled``, ``forbidden``, ``insufficientPermissions`` (403),
  ``liveChatNotFound`` (404), 401: the chat cannot be read; the source stops.
The API key goes in the ``X-goog-api-key`` header, the OAuth token in ``Authorization``, so
neither appears in a URL that a log line could show. OAuth access tokens last an hour: on a
401 the source reads its token file again (an outside tool may renew it) and carries on if
the token changed.

The list returns the channel's own messages too: what this source posted is recognised
(`OwnMessages`) and skipped, so the personas never answer themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import msgspec

from bus.errors import ParameterError, VtError, WireError
from messages.chat import ChatKind, ChatMessage
from nodes.chat.quota import QuotaBudget, pacific_time
from nodes.chat.ratelimit import WindowLimiter
from nodes.chat.removal import Removal
from nodes.chat.sources import AtLeastOne, NotNegative, Positive, SourceHooks

__all__ = [
    "BadItem",
    "ChatEnded",
    "OwnMessages",
    "Page",
    "PageError",
    "YouTubeSettings",
    "YouTubeSource",
    "api_error_reason",
    "parse_page",
    "to_event",
]

LIST_COST = 5
INSERT_COST = 50
FATAL_REASONS = frozenset({
    "liveChatEnded", "liveChatNotFound", "liveChatDisabled", "forbidden",
    "insufficientPermissions", "authError", "unauthorized", "keyInvalid",
})
_MAX_BACKOFF_S = 300.0


class ChatEnded:
    """The chat is over (``chatEndedEvent`` or ``offlineAt``)."""


class YouTubeSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How to read one YouTube live chat (the node's ``youtube_<field>`` parameters).

    Attributes
    ----------
    live_chat_id:
        The broadcast's ``snippet.liveChatId``.
    api_base:
        The API root (a loopback fake in tests).
    key_file:
        A file holding the API key, which reads (default: ``$YOUTUBE_API_KEY``).
    oauth_file:
        A file holding an OAuth token, which reads and posts, re-read on a 401 (default:
        ``$YOUTUBE_OAUTH_TOKEN``; either one, when given, is used instead of the key).
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

    live_chat_id: str = ""
    api_base: Annotated[str, msgspec.Meta(pattern=r"^https?://")] = \
        "https://www.googleapis.com/youtube/v3"
    key_file: str = ""
    oauth_file: str = ""
    daily_quota: AtLeastOne = 10_000
    quota_horizon_s: NotNegative = 4 * 3600.0
    send_reserve: Annotated[int, msgspec.Meta(ge=0)] = 500
    min_interval_s: NotNegative = 0.0
    max_results: AtLeastOne = 500
    send_limit: AtLeastOne = 20
    send_window_s: Positive = 30.0
    backoff_initial_s: Positive = 1.0
    history_s: NotNegative = 60.0


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


_MAX_COUNT = 2**31 - 1  # months, gift counts: anything larger is not a real value


def _number(value: int | str, *, limit: int = _MAX_COUNT) -> int:
    """A count the API gives as a number or a decimal string; 0 when it is neither or out of
    range (a value msgpack could not carry must never reach a message)."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            return 0
        value = int(value)
    return value if 0 <= value <= limit else 0


def _stamp_ns(value: str) -> int:
    try:
        stamp = int(dt.datetime.fromisoformat(value).timestamp() * 1e9)
    except (ValueError, OverflowError, OSError):
        return 0
    return stamp if 0 <= stamp < 2**63 else 0


# The documented liveChatMessage resource, as far as it is used; every field has a default
# so an item lacking one still maps, and a field of the wrong type rejects the item.
class _Author(msgspec.Struct, rename="camel"):
    channel_id: str = ""
    display_name: str = ""
    is_chat_owner: bool = False
    is_chat_moderator: bool = False
    is_chat_sponsor: bool = False


class _TextDetails(msgspec.Struct, rename="camel"):
    message_text: str | None = None


class _Paid(msgspec.Struct, rename="camel"):
    """superChatDetails and superStickerDetails."""

    amount_micros: int | str = 0
    currency: str = ""
    user_comment: str = ""
    super_sticker_metadata: dict[str, Any] | None = None


class _Milestone(msgspec.Struct, rename="camel"):
    user_comment: str = ""
    member_month: int | str = 0


class _Gifting(msgspec.Struct, rename="camel"):
    gift_memberships_count: int | str = 0


class _Deleted(msgspec.Struct, rename="camel"):
    deleted_message_id: str = ""


class _Banned(msgspec.Struct, rename="camel"):
    banned_user_details: _Author | None = None
    ban_type: str = ""
    ban_duration_seconds: int | str = 0


class _Snippet(msgspec.Struct, rename="camel"):
    type: str = ""
    live_chat_id: str = ""
    author_channel_id: str = ""
    published_at: str = ""
    display_message: str = ""
    text_message_details: _TextDetails | None = None
    super_chat_details: _Paid | None = None
    super_sticker_details: _Paid | None = None
    member_milestone_chat_details: _Milestone | None = None
    membership_gifting_details: _Gifting | None = None
    message_deleted_details: _Deleted | None = None
    user_banned_details: _Banned | None = None


class _Item(msgspec.Struct, rename="camel"):
    id: str = ""
    snippet: _Snippet | None = None
    author_details: _Author | None = None


class BadItem(WireError):
    """An item that is not a liveChatMessage resource; the message names the field."""


class PageError(WireError):
    """A list response that is not a liveChatMessageListResponse; the page is skipped."""


@dataclass
class Page:
    """One ``liveChatMessages.list`` response, mapped."""

    events: list[ChatMessage | Removal | ChatEnded]
    bad_items: list[str]
    """Why each item that could not be mapped was skipped."""
    next_page_token: str
    polling_s: float
    offline: bool


def to_event(item: object) -> ChatMessage | Removal | ChatEnded | None:
    """Map one ``liveChatMessage`` resource; None for an item without a snippet.

    Raises
    ------
    BadItem
        A field has the wrong type (msgspec's message says which).
    """
    try:
        resource = msgspec.convert(item, _Item)
    except msgspec.ValidationError as exc:
        raise BadItem(f"not a liveChatMessage: {exc}") from None
    snippet = resource.snippet
    if snippet is None:
        return None
    kind_name = snippet.type
    chat_id = snippet.live_chat_id
    if kind_name == "messageDeletedEvent":
        deleted = snippet.message_deleted_details or _Deleted()
        return Removal("youtube", chat_id, message_id=deleted.deleted_message_id)
    if kind_name == "userBannedEvent":
        details = snippet.user_banned_details or _Banned()
        banned = details.banned_user_details or _Author()
        return Removal("youtube", chat_id, user=banned.display_name, user_id=banned.channel_id,
                       duration_s=float(_number(details.ban_duration_seconds)))
    if kind_name == "chatEndedEvent":
        return ChatEnded()
    author = resource.author_details or _Author()
    roles = [role for flag, role in ((author.is_chat_owner, "broadcaster"),
                                     (author.is_chat_moderator, "moderator"),
                                     (author.is_chat_sponsor, "member")) if flag]
    text = snippet.display_message
    kind: ChatKind = "system"
    amount, currency, months, count = 0.0, "", 0, 0
    if kind_name == "textMessageEvent":
        kind = "text"
        details_text = (snippet.text_message_details or _TextDetails()).message_text
        text = text if details_text is None else details_text
    elif kind_name in ("superChatEvent", "superStickerEvent"):
        paid = (snippet.super_chat_details if kind_name == "superChatEvent"
                else snippet.super_sticker_details) or _Paid()
        amount, currency = _number(paid.amount_micros, limit=2**53) / 1_000_000, paid.currency
        if kind_name == "superChatEvent":
            kind, text = "superchat", paid.user_comment
        else:
            alt = (paid.super_sticker_metadata or {}).get("altText")
            kind, text = "sticker", alt if isinstance(alt, str) else text
    elif kind_name == "newSponsorEvent":
        kind = "member"
    elif kind_name == "memberMilestoneChatEvent":
        milestone = snippet.member_milestone_chat_details or _Milestone()
        kind, text = "member", milestone.user_comment or text
        months = _number(milestone.member_month)
    elif kind_name == "membershipGiftingEvent":
        kind = "gift"
        count = _number((snippet.membership_gifting_details or _Gifting()).gift_memberships_count)
    return ChatMessage(
        platform="youtube",
        user=author.display_name,
        text=text,
        channel=chat_id,
        user_id=author.channel_id or snippet.author_channel_id,
        roles=roles,
        kind=kind,
        amount=amount,
        currency=currency,
        id=resource.id,
        sent_ns=_stamp_ns(snippet.published_at),
        months=months,
        count=count,
    )


_MAX_POLLING_S = 3600.0  # a page asking for more is taken at this word


def parse_page(body: object) -> Page:
    """Map a decoded ``liveChatMessageListResponse``.

    Raises
    ------
    PageError
        The body is not such a response (not an object, ``items`` not a list, a token or
        interval of the wrong type); items that fail alone are listed in `Page.bad_items`.
    """
    if not isinstance(body, dict):
        raise PageError(f"expected a JSON object, got {type(body).__name__}")
    items = body.get("items") or []
    token = body.get("nextPageToken") or ""
    polling = body.get("pollingIntervalMillis", 5000)
    if not isinstance(items, list):
        raise PageError(f"items: expected an array, got {type(items).__name__}")
    if not isinstance(token, str):
        raise PageError(f"nextPageToken: expected a string, got {type(token).__name__}")
    if isinstance(polling, bool) or not isinstance(polling, int | float) or not (
            0 <= polling < float("inf")):
        raise PageError(f"pollingIntervalMillis: expected a number >= 0, got {polling!r:.40}")
    events: list[ChatMessage | Removal | ChatEnded] = []
    bad: list[str] = []
    for item in items:
        try:
            event = to_event(item)
        except BadItem as exc:
            bad.append(str(exc))
            continue
        if event is None:
            bad.append(f"an item without a snippet: {str(item)[:80]}")
        else:
            events.append(event)
    return Page(events, bad, token, min(polling / 1000, _MAX_POLLING_S),
                bool(body.get("offlineAt")))


class OwnMessages:
    """What this account posted, so that the list's copy of it is not taken for chat.

    YouTube lists the channel's own messages like any other: without this every reply came
    back as a broadcaster's message, ahead of the viewers. A message is ours when its id is
    one that ``insert`` returned, or when it carries a text we posted (not yet seen back)
    from our channel (or from anyone before the first ``insert`` answered: the list can
    outrun it). A human typing with the same account is still heard. Bounded: the last
    ``memory`` ids and texts.
    """

    def __init__(self, memory: int = 500):
        self.channel_id = ""
        """The posting account's channel, from the first ``insert`` response."""
        self._ids: deque[str] = deque(maxlen=memory)
        self._texts: deque[str] = deque(maxlen=memory)

    def posting(self, text: str) -> None:
        self._texts.append(text)

    def failed(self, text: str) -> None:
        with contextlib.suppress(ValueError):
            self._texts.remove(text)

    def posted(self, resource: object) -> None:
        """Learn the id and the author's channel from ``insert``'s response."""
        with contextlib.suppress(msgspec.ValidationError):
            inserted = msgspec.convert(resource, _Item)
            if inserted.id:
                self._ids.append(inserted.id)
            author = inserted.author_details or _Author()
            snippet = inserted.snippet or _Snippet()
            self.channel_id = author.channel_id or snippet.author_channel_id or self.channel_id

    def is_own(self, msg: ChatMessage) -> bool:
        """True for our own message (each posted text is matched once)."""
        by_id = bool(msg.id) and msg.id in self._ids
        by_text = msg.text in self._texts and (
            not self.channel_id or msg.user_id == self.channel_id)
        if by_id or by_text:
            self.failed(msg.text)  # seen back: a later identical text is someone's
        return by_id or by_text


class YouTubeSource:
    """Polls one live chat into ``hooks.on_message`` / ``hooks.on_removal``; posts with OAuth.

    Parameters
    ----------
    settings:
        The chat and where its credentials are.
    hooks:
        What the node gives every source: callbacks, counters (``youtube_polls``,
        ``youtube_error_<reason>``...), its log, and the secrets (an OAuth token from a file
        is read again when the server says 401).

    Raises
    ------
    ParameterError
        No live chat id.
    CredentialError
        Neither an API key nor an OAuth token; the message names what to set.
    """

    Settings = YouTubeSettings
    platform = "youtube"

    def __init__(self, settings: YouTubeSettings, hooks: SourceHooks):
        if not settings.live_chat_id:
            raise ParameterError("chat node: the youtube source needs youtube_live_chat_id")
        self.settings = settings
        self.hooks = hooks
        self.counts = hooks.counts
        self.log = hooks.log
        secrets = hooks.secrets
        self.api_key = self.oauth_token = ""
        self.refresh_token: Callable[[], str] | None = None
        if settings.oauth_file or secrets.variable("YOUTUBE_OAUTH_TOKEN"):
            oauth = ("YOUTUBE_OAUTH_TOKEN", settings.oauth_file)
            self.oauth_token = secrets.read(*oauth, what="youtube",
                                            file_param="youtube_oauth_file")
            self.refresh_token = secrets.rereader(*oauth, what="youtube",
                                                  file_param="youtube_oauth_file")
        else:
            self.api_key = secrets.read("YOUTUBE_API_KEY", settings.key_file,
                                        what="youtube (or YOUTUBE_OAUTH_TOKEN to also reply)",
                                        file_param="youtube_key_file")
        self.budget = QuotaBudget(settings.daily_quota, time.time(),
                                  reserve=settings.send_reserve if self.oauth_token else 0)
        self.limiter = WindowLimiter(settings.send_limit, settings.send_window_s)
        self.page_token = ""
        self.ended = False
        self.own = OwnMessages()
        self._polling_s = 0.0
        """The last page's pollingIntervalMillis: no retry comes sooner."""
        self._bad_logged = False
        self._dry_logged = 0.0
        headers = {"Accept": "application/json"}
        if self.oauth_token:
            headers["Authorization"] = f"Bearer {self.oauth_token}"
        else:
            headers["X-goog-api-key"] = self.api_key
        self._http = httpx.AsyncClient(base_url=settings.api_base.rstrip("/") + "/",
                                       headers=headers, timeout=15.0)

    @property
    def can_send(self) -> bool:
        return bool(self.oauth_token) and not self.ended

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
                if self._dry_logged != self.budget.resets_at:
                    self._dry_logged = self.budget.resets_at
                    self.log.warning("youtube: this node's daily quota (%d units) is spent; "
                                     "polling resumes at %s", self.settings.daily_quota,
                                     pacific_time(self.budget.resets_at))
                interval = 0.0
                continue
            try:
                response = await self._http.get("liveChat/messages", params=self._params())
            except httpx.HTTPError as exc:
                self.counts["youtube_network_errors"] += 1
                interval, backoff = self._back_off(backoff)
                self.log.warning("youtube: %s: %s; retrying in %.1f s", type(exc).__name__, exc,
                                 interval)
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
                self._dry_logged = self.budget.resets_at
                self.log.warning("youtube: daily quota exceeded; polling resumes at %s",
                                 pacific_time(self.budget.resets_at))
                interval = 0.0
            elif reason in FATAL_REASONS or response.status_code in (401, 404):
                self.log.error("youtube: live chat %s cannot be read: %s (HTTP %d); stopping",
                               self.settings.live_chat_id, reason, response.status_code)
                self.ended = True
            else:  # rateLimitExceeded, backendError, 5xx: back off
                interval, backoff = self._back_off(backoff)
                self.log.warning("youtube: %s (HTTP %d); retrying in %.1f s", reason,
                                 response.status_code, interval)
        await self._http.aclose()

    def _back_off(self, backoff: float) -> tuple[float, float]:
        """(the wait before the retry, the next backoff): never sooner than the server's
        last pollingIntervalMillis."""
        return max(backoff, self._polling_s), min(_MAX_BACKOFF_S, backoff * 2)

    def _refresh(self) -> bool:
        """Take a new OAuth token if there is one; False when nothing changed."""
        if self.refresh_token is None or not self.oauth_token:
            return False
        try:
            token = self.refresh_token()
        except VtError as exc:
            self.log.warning("youtube: %s", exc)
            return False
        if token == self.oauth_token:
            return False
        self.oauth_token = token
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
            page = parse_page(response.json())
        except (ValueError, PageError) as exc:  # json's errors are ValueErrors too
            self._bad("youtube_bad_pages", f"a page that is not a list response ({exc})")
            return max(5.0, self._polling_s)
        oldest_ns = time.time_ns() - int(self.settings.history_s * 1e9)
        first_page = not self.page_token
        for reason in page.bad_items:
            self._bad("youtube_bad_items", reason)
        for event in page.events:
            if isinstance(event, ChatMessage):
                if self.own.is_own(event):
                    self.counts["youtube_own_skipped"] += 1
                elif first_page and 0 < event.sent_ns < oldest_ns:
                    self.counts["youtube_history_skipped"] += 1
                else:
                    self.hooks.on_message(event)
            elif isinstance(event, Removal):
                self.hooks.on_removal(event)
            else:
                self.ended = True
        self.page_token = page.next_page_token or self.page_token
        self.ended = self.ended or page.offline
        if self.ended:
            self.log.info("youtube: live chat %s ended", self.settings.live_chat_id)
        self._polling_s = page.polling_s
        return page.polling_s

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
        words = text[:200]
        body = {"snippet": {"liveChatId": self.settings.live_chat_id, "type": "textMessageEvent",
                            "textMessageDetails": {"messageText": words}}}
        self.own.posting(words)  # before the POST: the list may show it before we hear back
        try:
            response = await self._http.post("liveChat/messages", params={"part": "snippet"},
                                             json=body)
        except httpx.HTTPError as exc:  # it may have been posted: keep its text expected
            self.counts["youtube_say_errors"] += 1
            self.log.warning("youtube: posting failed: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            self.own.failed(words)
            self.counts[f"youtube_say_error_{api_error_reason(response)}"] += 1
            return False
        with contextlib.suppress(ValueError):
            self.own.posted(response.json())
        self.counts["youtube_say_sent"] += 1
        return True

    async def close(self) -> None:
        await self._http.aclose()
