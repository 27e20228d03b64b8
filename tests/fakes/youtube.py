"""A loopback YouTube Data API v3 serving ``liveChat/messages``: recorded pages and errors.

Pages and items follow the documented resource representation of ``liveChatMessage`` and
``liveChatMessageListResponse``; errors carry Google's documented error body
(``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}]}}``). Each GET
takes the next scripted response (an empty page once the script is spent); POSTs (replies)
are recorded and answered with the inserted resource as ``liveChatMessages.insert`` does
(``part=snippet``: id, and the snippet with ``authorChannelId``, ``publishedAt`` and
``displayMessage`` filled in), and, as on YouTube, the inserted message then comes back in
the next page of the list like any other, with the posting account's ``authorDetails``
(``isChatOwner`` when it is the broadcaster's own channel).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CHAT_ID",
    "FakeYouTube",
    "Request",
    "error_body",
    "item",
    "page",
]

CHAT_ID = "Cg0KC2hYbU9uZTdHcEZB"
_DOMAINS = {"quotaExceeded": "youtube.quota", "rateLimitExceeded": "youtube.quota",
            "authError": "global"}
_MESSAGES = {
    "quotaExceeded": "The request cannot be completed because you have exceeded your "
                     '<a href="/youtube/v3/getting-started#quota">quota</a>.',
    "rateLimitExceeded": "The request was sent too frequently.",
    "authError": "Request had invalid authentication credentials.",
    "liveChatEnded": "The specified live chat is no longer live.",
    "liveChatNotFound": "The live chat that you are trying to retrieve cannot be found.",
    "liveChatDisabled": "Live chat is not enabled for the specified broadcast.",
    "forbidden": "You do not have the permissions required to retrieve messages.",
}


def error_body(code: int, reason: str) -> dict[str, Any]:
    message = _MESSAGES.get(reason, reason)
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message,
                                  "domain": _DOMAINS.get(reason, "youtube.liveChat"),
                                  "reason": reason}]}}


def item(kind: str, msg_id: str, *, author: str = "Viewer", channel_id: str = "",
         owner: bool = False, moderator: bool = False, sponsor: bool = False,
         display: str = "", published: str = "", **details: Any) -> dict[str, Any]:
    """One ``liveChatMessage`` resource of ``kind`` with its ``<kind>Details`` object,
    published now unless ``published`` (ISO 8601) says otherwise."""
    published = published or dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    channel_id = channel_id or f"UC{abs(hash(author)) % 10**20:020d}"
    snippet: dict[str, Any] = {
        "type": kind, "liveChatId": CHAT_ID, "authorChannelId": channel_id,
        "publishedAt": published, "hasDisplayContent": True,
        "displayMessage": display,
    }
    snippet.update(details)
    return {
        "kind": "youtube#liveChatMessage", "etag": f"etag-{msg_id}", "id": msg_id,
        "snippet": snippet,
        "authorDetails": {
            "channelId": channel_id,
            "channelUrl": f"http://www.youtube.com/channel/{channel_id}",
            "displayName": author, "profileImageUrl": "https://yt3.ggpht.com/x/photo.jpg",
            "isVerified": False, "isChatOwner": owner, "isChatSponsor": sponsor,
            "isChatModerator": moderator,
        },
    }


def page(items: list[dict[str, Any]], next_token: str, polling_ms: int = 50) -> dict[str, Any]:
    return {
        "kind": "youtube#liveChatMessageListResponse", "etag": f"etag-{next_token}",
        "pollingIntervalMillis": polling_ms,
        "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        "nextPageToken": next_token, "items": items,
    }


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float
    body: Any = None


@dataclass
class _Script:
    responses: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    served: int = 0


class FakeYouTube:
    """``with FakeYouTube() as yt: yt.push_page(...); yt.push_error(403, "quotaExceeded")``;
    ``yt.base`` is the API root to configure."""

    def __init__(self, *, idle_polling_ms: int = 50, bearer: str = "",
                 poster_channel_id: str = "UCbroadcasterChannel0001",
                 poster_name: str = "Aria Show", poster_is_owner: bool = True):
        self.idle_polling_ms = idle_polling_ms
        self.bearer = bearer
        """When set, GETs need ``Authorization: Bearer <bearer>`` (else 401 authError)."""
        self.poster_channel_id = poster_channel_id
        self.poster_name = poster_name
        self.poster_is_owner = poster_is_owner
        """The account the OAuth token belongs to: the author of what the client posts."""
        self.inserted: list[dict[str, Any]] = []
        """Posted messages not yet returned by the list (the next page carries them)."""
        self.script = _Script()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _record(self, body: Any = None) -> Request:
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path,
                                  {k: v[-1] for k, v in parse_qs(parts.query).items()},
                                  {k.lower(): v for k, v in self.headers.items()},
                                  time.monotonic(), body)
                with fake.lock:
                    fake.script.requests.append(request)
                return request

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                request = self._record()
                if request.path != "/youtube/v3/liveChat/messages":
                    self._reply(404, error_body(404, "notFound"))
                    return
                if fake.bearer and request.headers.get("authorization") != f"Bearer {fake.bearer}":
                    self._reply(401, error_body(401, "authError"))
                    return
                with fake.lock:
                    script = fake.script
                    if script.served < len(script.responses):
                        status, body = script.responses[script.served]
                        script.served += 1
                    else:
                        status, body = 200, page([], request.params.get("pageToken", "idle"),
                                                 fake.idle_polling_ms)
                    if status == 200 and fake.inserted:  # own posts come back as chat
                        body = {**body, "items": [*body["items"], *fake.inserted]}
                        fake.inserted = []
                self._reply(status, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._record(body)
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    self._reply(401, error_body(401, "authError"))
                    return
                self._reply(200, fake._insert(body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def _insert(self, body: dict[str, Any]) -> dict[str, Any]:
        """The resource ``liveChatMessages.insert`` returns; queues its echo in the list."""
        snippet = body.get("snippet") or {}
        words = (snippet.get("textMessageDetails") or {}).get("messageText", "")
        echo = item("textMessageEvent", f"LCC.{uuid.uuid4().hex[:16]}",
                    author=self.poster_name, channel_id=self.poster_channel_id,
                    owner=self.poster_is_owner, display=words,
                    textMessageDetails={"messageText": words})
        with self.lock:
            self.inserted.append(echo)
        return {"kind": echo["kind"], "etag": echo["etag"], "id": echo["id"],
                "snippet": echo["snippet"]}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/youtube/v3"

    def push_page(self, items: list[dict[str, Any]], next_token: str,
                  polling_ms: int = 50) -> None:
        with self.lock:
            self.script.responses.append((200, page(items, next_token, polling_ms)))

    def push_error(self, code: int, reason: str) -> None:
        with self.lock:
            self.script.responses.append((code, error_body(code, reason)))

    @property
    def requests(self) -> list[Request]:
        with self.lock:
            return list(self.script.requests)

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]

    def __enter__(self) -> FakeYouTube:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
