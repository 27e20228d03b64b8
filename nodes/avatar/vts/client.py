"""The VTube Studio public API over one WebSocket connection.

Every request carries a fresh ``requestID``; a reader task matches each response (or
``APIError``) to its request by that id, and hands every other frame (events, which arrive
interleaved with responses at any time) to the event callback. Frames are decoded tolerantly:
VTS may add fields at any time. A frame that is not the API's JSON (`decode_frame`) is counted,
logged once and dropped, and fails the request it names, if any; nothing a peer sends ends the
reader.

Errors::

    VtsError                 (bus.errors.VtError)
    ├── VtsApiError          VTS answered APIError: ``error_id`` and its message
    ├── VtsAuthError         no valid token: the user denied or revoked access
    ├── VtsConnectionError   the connection is gone (VTS closed, restarted, unreachable)
    └── VtsProtocolError     VTS sent a frame that is not the API's JSON
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection, connect

from bus.errors import VtError
from nodes.avatar.vts.tokens import TokenStore

__all__ = [
    "API_NAME",
    "API_VERSION",
    "Envelope",
    "VtsApiError",
    "VtsAuthError",
    "VtsClient",
    "VtsConnectionError",
    "VtsError",
    "VtsProtocolError",
    "decode_frame",
]

API_NAME = "VTubeStudioPublicAPI"
API_VERSION = "1.0"
ERROR_TOKEN_DENIED = 50
"""``TokenRequestDenied``: the user clicked Deny (or revoked the plugin)."""
MAX_TOKEN_CHARS = 1024
"""Longest token stored (the docs say VTS sends at most 64 characters; some room to grow)."""
ERROR_NEEDS_AUTH = 8
"""``RequestRequiresAuthetication`` (sic): the session is not authenticated."""

log = logging.getLogger(__name__)


class VtsError(VtError):
    """Base of every VTube Studio failure."""


class VtsApiError(VtsError):
    """VTS answered a request with ``APIError``."""

    def __init__(self, request_type: str, error_id: int, message: str):
        super().__init__(f"{request_type} failed: VTS error {error_id}: {message}")
        self.request_type = request_type
        self.error_id = error_id
        self.message = message


class VtsAuthError(VtsError):
    """The plugin has no valid token: the user must click Allow in VTube Studio."""


class VtsConnectionError(VtsError):
    """The WebSocket to VTube Studio is closed or could not be opened."""


class VtsProtocolError(VtsError):
    """VTS sent a frame that is not the API's JSON, or an answer of the wrong shape.

    ``request_id`` is the request the frame names, when it names one ("" otherwise)."""

    def __init__(self, message: str, request_id: str = ""):
        super().__init__(message)
        self.request_id = request_id


class Envelope(msgspec.Struct):
    """One API frame. Unknown fields are ignored when decoding (VTS adds fields over time)."""

    apiName: str = API_NAME
    apiVersion: str = API_VERSION
    requestID: str = ""
    messageType: str = ""
    timestamp: int = 0
    data: dict[str, Any] | None = None
    """VTS may send ``null`` for "no data"; requests always carry an object."""

    def api_error(self, request_type: str) -> VtsApiError:
        """The error of an ``APIError`` frame answering ``request_type``.

        Raises
        ------
        VtsProtocolError
            ``data`` is not ``{"errorID": int, "message": str}``.
        """
        try:
            error = msgspec.convert(self.data or {}, _ApiErrorData)
        except msgspec.ValidationError as exc:
            raise VtsProtocolError(f"VTS answered {request_type} with a malformed APIError "
                                   f"({exc})", self.requestID) from None
        return VtsApiError(request_type, error.errorID, error.message)


class _ApiErrorData(msgspec.Struct):
    errorID: int
    message: str = ""


class _TokenAnswer(msgspec.Struct):
    authenticationToken: str


class _AuthAnswer(msgspec.Struct):
    authenticated: bool
    reason: str = ""


Answer = TypeVar("Answer", bound=msgspec.Struct)


_decoder = msgspec.json.Decoder(Envelope)
_encoder = msgspec.json.Encoder()


def decode_frame(raw: str | bytes) -> Envelope:
    """One frame from VTS, text or binary.

    Raises
    ------
    VtsProtocolError
        Not a JSON object with the envelope's fields and types, or no ``messageType``; its
        ``request_id`` is the frame's ``requestID`` when that could still be read.
    """
    try:
        frame = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        frame = _decode_leniently(raw, exc)
    if not frame.messageType:
        raise VtsProtocolError("no messageType", frame.requestID)
    return frame


def _decode_leniently(raw: str | bytes, error: msgspec.DecodeError) -> Envelope:
    """The slow path, for frames msgspec refused: Python's parser also takes the NaN and
    Infinity some JSON writers emit, and gives the ``requestID`` of a frame of wrong shape."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise VtsProtocolError(f"not JSON ({error})") from None
    request_id = value.get("requestID") if isinstance(value, dict) else None
    try:
        return msgspec.convert(value, Envelope)
    except msgspec.ValidationError as exc:
        raise VtsProtocolError(f"not an API frame ({exc})",
                               request_id if isinstance(request_id, str) else "") from None


EventCallback = Callable[[str, dict[str, Any]], None]


class _Pending(NamedTuple):
    request_type: str
    future: asyncio.Future[dict[str, Any]]
    deadline: asyncio.TimerHandle


class VtsClient:
    """One session with one VTube Studio instance.

    Parameters
    ----------
    url:
        ``ws://HOST:PORT``.
    on_event:
        Called with (messageType, data) for every frame that answers no request.
    timeout:
        Seconds a request waits for its response.
    counters:
        Where to count ``frames_in``, ``events``, ``bad_frames`` and ``unmatched`` answers
        (a session keeps one across its connections); default: a new one.
    """

    def __init__(self, url: str, *, on_event: EventCallback | None = None, timeout: float = 5.0,
                 counters: Counter[str] | None = None):
        self.url = url
        self.on_event = on_event
        self.timeout = timeout
        self.authenticated = False
        self.counters: Counter[str] = Counter() if counters is None else counters
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, _Pending] = {}
        self._prefix = uuid.uuid4().hex[:8]
        self._ids = itertools.count()
        self._closed = asyncio.Event()

    # ------------------------------------------------------------ connection

    async def connect(self, open_timeout: float = 3.0) -> None:
        try:
            self._ws = await connect(self.url, open_timeout=open_timeout, max_size=2**24,
                                     ping_interval=5, ping_timeout=10, close_timeout=0.5,
                                     compression=None)
        except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake) as exc:
            raise VtsConnectionError(f"cannot reach VTube Studio at {self.url}: {exc}; is it "
                                     "running, with the plugin API switched on?") from None
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="vts reader")

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._fail_pending("client closed")
        self._closed.set()

    # ------------------------------------------------------------ requests

    async def request(self, message_type: str, data: dict[str, Any] | None = None, *,
                      timeout: float | None = None) -> dict[str, Any]:
        """Send one request and return the ``data`` of its response.

        Raises
        ------
        VtsApiError
            VTS answered ``APIError``.
        VtsConnectionError
            The connection closed before the answer came.
        TimeoutError
            No answer within ``timeout`` seconds.
        """
        return await (await self.send(message_type, data, timeout=timeout))

    async def send(self, message_type: str, data: dict[str, Any] | None = None, *,
                   timeout: float | None = None) -> asyncio.Future[dict[str, Any]]:
        """Send a request without waiting for its answer; the future resolves with it, or
        with `TimeoutError` after ``timeout`` seconds (default: the client's).

        Used for parameter injection at 60 Hz, where waiting would stall the loop. Every
        request has a deadline, so one VTS never answers does not stay pending for ever.
        """
        if self._ws is None or self._closed.is_set():
            raise VtsConnectionError(f"not connected to VTube Studio at {self.url}")
        request_id = f"{self._prefix}-{next(self._ids)}"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        seconds = timeout or self.timeout
        deadline = loop.call_later(seconds, lambda: self._settle(request_id, TimeoutError(
            f"VTS did not answer {message_type} within {seconds} s")))
        self._pending[request_id] = _Pending(message_type, future, deadline)
        frame = Envelope(requestID=request_id, messageType=message_type, data=data or {},
                         timestamp=time.time_ns() // 1_000_000)
        try:
            await self._ws.send(_encoder.encode(frame).decode())
        except websockets.exceptions.ConnectionClosed as exc:
            self._pending.pop(request_id, None)
            deadline.cancel()
            raise VtsConnectionError(f"VTube Studio at {self.url} closed the connection: "
                                     f"{exc}") from None
        return future

    async def request_checked(self, message_type: str, answer_type: type[Answer],
                              data: dict[str, Any] | None = None, *,
                              timeout: float | None = None) -> Answer:
        """`request`, with the answer's data checked against ``answer_type`` (a Struct whose
        defaults fill what VTS leaves out; unknown fields are ignored).

        Raises
        ------
        VtsProtocolError
            The answer's data has the wrong shape; besides `request`'s errors.
        """
        answer = await self.request(message_type, data, timeout=timeout)
        try:
            return msgspec.convert(answer, answer_type)
        except msgspec.ValidationError as exc:
            raise VtsProtocolError(f"VTS answered {message_type} with data of the wrong shape "
                                   f"({exc})") from None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------ authentication

    async def authenticate(self, store: TokenStore, plugin_name: str, plugin_developer: str
                           ) -> None:
        """Authenticate this session, reusing the stored token; ask VTS for a new one (the
        user must click Allow) when there is none or VTS no longer accepts it.

        Raises
        ------
        VtsAuthError
            The user denied access (VTS error 50), or a fresh token was refused.
        VtsProtocolError
            An answer of the wrong shape, or a token that cannot be stored (not printable
            ASCII, longer than `MAX_TOKEN_CHARS`).
        """
        identity = {"pluginName": plugin_name, "pluginDeveloper": plugin_developer}
        token = store.load()
        if token is not None:
            answer = await self.request_checked("AuthenticationRequest", _AuthAnswer,
                                                {**identity, "authenticationToken": token})
            if answer.authenticated:
                self.authenticated = True
                return
            log.warning("VTS at %s no longer accepts the stored token (%s); asking for a new "
                        "one", self.url, answer.reason or "no reason given")
            store.clear()
        log.info("asking VTube Studio at %s for a token: click Allow in VTS", self.url)
        try:
            # the user has to click: allow them time
            issued = await self.request_checked("AuthenticationTokenRequest", _TokenAnswer,
                                                identity, timeout=120.0)
        except VtsApiError as exc:
            if exc.error_id == ERROR_TOKEN_DENIED:
                raise VtsAuthError(f"VTube Studio at {self.url} denied access to plugin "
                                   f"{plugin_name!r}: allow it in VTS (Settings > Plugins) "
                                   "and it will be asked again") from None
            raise
        token = issued.authenticationToken
        if not token:
            raise VtsAuthError(f"VTube Studio at {self.url} sent no token")
        # the docs: ASCII, at most 64 characters; it goes into a file, one line
        if not (token.isascii() and token.isprintable() and token.strip() == token
                and len(token) <= MAX_TOKEN_CHARS):
            raise VtsProtocolError(f"VTube Studio at {self.url} sent a token that is not one "
                                   f"line of printable ASCII up to {MAX_TOKEN_CHARS} characters")
        store.save(token)
        answer = await self.request_checked("AuthenticationRequest", _AuthAnswer,
                                            {**identity, "authenticationToken": token})
        if not answer.authenticated:
            raise VtsAuthError(f"VTube Studio at {self.url} refused a token it just issued: "
                               f"{answer.reason}")
        self.authenticated = True

    # ------------------------------------------------------------ internals

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                self._on_frame(raw)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            self._closed.set()
            self._fail_pending("connection closed")

    def _on_frame(self, raw: str | bytes) -> None:
        self.counters["frames_in"] += 1
        try:
            self._dispatch(decode_frame(raw))
        except VtsProtocolError as exc:
            self.counters["bad_frames"] += 1
            if self.counters["bad_frames"] == 1:
                log.warning("VTS at %s sent a bad frame (%s): dropped, logged once; later ones "
                            "are counted (bad_frames)", self.url, exc)
            else:
                log.debug("VTS at %s sent a bad frame (%s): dropped", self.url, exc)
            self._settle(exc.request_id, exc)  # no wait for a timeout: the answer came, bad

    def _dispatch(self, frame: Envelope) -> None:
        data = frame.data or {}
        pending = self._pending.get(frame.requestID)
        is_answer = frame.messageType == "APIError" or frame.messageType.endswith("Response")
        if pending is not None and is_answer:
            if frame.messageType == "APIError":
                self._settle(frame.requestID, frame.api_error(pending.request_type))
            else:
                self._settle(frame.requestID, data)
        elif is_answer:
            self.counters["unmatched"] += 1
        else:
            self.counters["events"] += 1
            if self.on_event is not None:
                try:
                    self.on_event(frame.messageType, data)
                except Exception:
                    log.exception("VTS event handler failed on %s", frame.messageType)

    def _settle(self, request_id: str, outcome: dict[str, Any] | Exception) -> None:
        """Resolve a pending request with its answer's data or an error, once."""
        pending = self._pending.pop(request_id, None)
        if pending is None:
            return
        pending.deadline.cancel()
        if pending.future.done():  # its caller gave up (cancelled)
            return
        if isinstance(outcome, Exception):
            pending.future.set_exception(outcome)
            pending.future.exception()  # mark retrieved: nobody may be waiting (injections)
        else:
            pending.future.set_result(outcome)

    def _fail_pending(self, why: str) -> None:
        for request_id, pending in list(self._pending.items()):
            self._settle(request_id, VtsConnectionError(
                f"{pending.request_type}: {why} (VTube Studio at {self.url})"))
