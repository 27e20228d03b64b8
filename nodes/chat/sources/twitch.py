"""Twitch chat over IRC (TLS or WebSocket): join, read, reconnect with backoff, send within
the limits.

Session: ``CAP REQ :twitch.tv/tags twitch.tv/commands``, ``PASS oauth:<token>``,
``NICK <login>``, ``JOIN #<channel>``. ``PING`` is answered with ``PONG``; ``RECONNECT``, a
closed connection or silence longer than ``idle_timeout_s`` reconnects (at once after
RECONNECT, else after an exponential backoff with jitter). ``anonymous`` joins without
credentials (``justinfan``) and can only read. User tokens expire: given as a file, the token
is read again before each reconnect (an outside tool may renew the file).

Replies go through `nodes.chat.twitch.outbox`: one sender per joined connection writes them
within the send limit, and a reply written but not answered (USERSTATE or a ``msg_*``
NOTICE) when the connection goes is sent again on the next one. After RECONNECT the old
connection is read a little longer (``ACK_GRACE_S``) for the answers still on their way.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Annotated

import msgspec

from bus.errors import CredentialError, ParameterError, VtError
from nodes.chat.credentials import bare_token
from nodes.chat.ratelimit import WindowLimiter
from nodes.chat.sources import AtLeastOne, Positive, SourceHooks
from nodes.chat.twitch.irc import (
    IrcLine,
    IrcParseError,
    format_line,
    parse_line,
    to_chat_message,
    to_removal,
)
from nodes.chat.twitch.outbox import Outbox
from nodes.chat.twitch.transport import TRANSPORT_ERRORS, LineConnection, connect

__all__ = ["TwitchSettings", "TwitchSource"]

MAX_LINE_TEXT = 500  # Twitch refuses longer chat messages
ACK_GRACE_S = 2.0
"""After RECONNECT, how long the old connection is still read for answers to replies in
flight (Twitch closes it itself, "after an indeterminate time")."""


class TwitchSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How to reach one Twitch channel (the node's ``twitch_<field>`` parameters).

    Attributes
    ----------
    channel:
        The channel login to join (no ``#``).
    login:
        The bot account (default: ``$TWITCH_LOGIN``).
    token_file:
        A file holding its OAuth token, re-read before each reconnect (default:
        ``$TWITCH_OAUTH_TOKEN``).
    anonymous:
        Read without credentials (``justinfan``); cannot reply.
    url:
        ``ircs://irc.chat.twitch.tv:6697`` (IRC over TLS) or ``wss://irc-ws.chat.twitch.tv:443``.
    ca_file, server_hostname:
        An extra trusted CA and the certificate's host name (tests against a loopback server).
    send_limit, send_limit_mod, send_window_s:
        Messages allowed per window as a plain user and as moderator/broadcaster.
    backoff_s, backoff_max_s:
        The reconnect delay doubles from the first to the second.
    idle_timeout_s:
        Reconnect when nothing arrives for this long (Twitch pings about every 5 minutes).
    send_queue, reply_max_age_s:
        Replies waiting at most, and how long one may wait before it is dropped (logged):
        see `nodes.chat.twitch.outbox` for why 120 s.
    """

    channel: str = ""
    login: str = ""
    token_file: str = ""
    anonymous: bool = False
    url: Annotated[str, msgspec.Meta(pattern=r"^(ircs?|wss?)://")] = \
        "ircs://irc.chat.twitch.tv:6697"
    ca_file: str = ""
    server_hostname: str = ""
    send_limit: AtLeastOne = 20
    send_limit_mod: AtLeastOne = 100
    send_window_s: Positive = 30.0
    backoff_s: Positive = 1.0
    backoff_max_s: Positive = 60.0
    idle_timeout_s: Positive = 360.0
    send_queue: AtLeastOne = 100
    reply_max_age_s: Positive = 120.0


class TwitchSource:
    """Reads one Twitch channel into ``hooks.on_message`` / ``hooks.on_removal`` and sends
    replies.

    Parameters
    ----------
    settings:
        Where and as whom to connect.
    hooks:
        What the node gives every source: callbacks, counters (``twitch_connects``,
        ``twitch_bad_lines``...), its log, and the secrets (the token is read here, and
        again before every reconnect when it comes from a file).

    Raises
    ------
    ParameterError
        No channel.
    CredentialError
        No token or no login (unless anonymous); the message names what to set.
    """

    Settings = TwitchSettings
    platform = "twitch"

    def __init__(self, settings: TwitchSettings, hooks: SourceHooks):
        if not settings.channel:
            raise ParameterError("chat node: the twitch source needs twitch_channel (the "
                                 "channel to join)")
        self.settings = settings
        self.hooks = hooks
        self.counts = hooks.counts
        self.log = hooks.log
        self.channel = settings.channel.lstrip("#").lower()
        self.anonymous = settings.anonymous
        self.refresh_token: Callable[[], str] | None = None
        self._token = ""
        if self.anonymous:
            self.login = f"justinfan{random.randint(10_000, 99_999)}"
        else:
            secret = ("TWITCH_OAUTH_TOKEN", settings.token_file)
            self._token = bare_token(hooks.secrets.read(*secret, what="twitch",
                                                        file_param="twitch_token_file"))
            self.refresh_token = hooks.secrets.rereader(*secret, what="twitch",
                                                        file_param="twitch_token_file")
            self.login = (settings.login or hooks.secrets.variable("TWITCH_LOGIN")).lower()
            if not self.login:
                raise CredentialError("twitch: set the environment variable TWITCH_LOGIN or "
                                      "the twitch_login parameter (the bot account's login)")
        self.limiter = WindowLimiter(settings.send_limit, settings.send_window_s)
        self.joined = asyncio.Event()
        self.outbox = Outbox(settings.send_queue, max_age_s=settings.reply_max_age_s)
        """Whole PRIVMSG lines waiting for the send limit, and those not yet answered."""
        self._queued = asyncio.Event()
        """Set while replies wait in the outbox."""
        self._sender: asyncio.Task[None] | None = None
        self._conn: LineConnection | None = None
        self._bad_logged = False
        self._join_userstate = False
        """The session's first USERSTATE (the JOIN's) is still to come: it answers nothing."""

    @property
    def can_send(self) -> bool:
        return not self.anonymous

    async def run(self) -> None:
        """Connect, read, and reconnect forever (until cancelled)."""
        attempt = 0
        while True:
            reconnect_now = False
            try:
                reconnect_now = await self._session()
            except TRANSPORT_ERRORS as exc:
                self.counts["twitch_connect_errors"] += 1
                self.log.warning("twitch: %s: %s", type(exc).__name__, exc)
            finally:
                await self._stop_sender()
                if self.joined.is_set():  # a session that got in: back off from scratch
                    attempt = 0
                self.joined.clear()
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(*TRANSPORT_ERRORS):
                        await conn.close()
                self._requeue()
            self._refresh()
            if reconnect_now:
                continue
            delay = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** attempt)
            delay *= random.uniform(0.5, 1.0)  # jitter: a fleet of bots must not sync up
            attempt += 1
            self.counts["twitch_reconnects"] += 1
            self.log.info("twitch: reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    def _refresh(self) -> None:
        if self.refresh_token is None:
            return
        try:
            self._token = bare_token(self.refresh_token())
        except VtError as exc:  # keep the old token; the file may be mid-rewrite
            self.counts["twitch_token_refresh_failed"] += 1
            self.log.warning("twitch: %s", exc)

    async def say(self, text: str, *, reply_to: str = "") -> bool:
        """Queue ``text`` for the channel, threaded under message ``reply_to`` if given;
        False (counted) when it cannot be sent."""
        if self.anonymous:
            self.counts["twitch_say_refused_anonymous"] += 1
            return False
        words = " ".join(text.split())[:MAX_LINE_TEXT]
        if not words:
            return False
        line = format_line("PRIVMSG", f"#{self.channel}", words,
                           tags={"reply-parent-msg-id": reply_to} if reply_to else None)
        if not self.outbox.put(line, time.monotonic()):  # the oldest is the least relevant
            self.counts["twitch_say_dropped_queue_full"] += 1
        self._queued.set()
        return True

    async def close(self) -> None:
        await self._stop_sender()
        if self._conn is not None:
            await self._conn.close()

    # ---------------------------------------------------------------- internals

    async def _session(self) -> bool:
        """One connection; returns True when the server asked us to reconnect (RECONNECT)."""
        s = self.settings
        self._conn = conn = await connect(s.url, ca_file=s.ca_file,
                                          server_hostname=s.server_hostname)
        self.counts["twitch_connects"] += 1
        self._join_userstate = True
        await conn.send_line("CAP REQ :twitch.tv/tags twitch.tv/commands")
        await conn.send_line(f"PASS oauth:{self._token}" if self._token else "PASS SCHMOOPIIE")
        await conn.send_line(f"NICK {self.login}")
        while True:
            async with asyncio.timeout(s.idle_timeout_s):
                raw = await conn.read_line()
            if raw is None:
                self.log.warning("twitch: server closed the connection")
                return False
            if not raw:
                continue
            try:
                line = parse_line(raw)
            except IrcParseError as exc:
                self._bad_line(str(exc))
                continue
            if await self._handle(conn, line):
                await self._stop_sender()
                await self._await_answers(conn)
                return True

    async def _await_answers(self, conn: LineConnection) -> None:
        """Read the closing connection until every reply in flight is answered, it closes,
        or `ACK_GRACE_S` passes (what stays unanswered is sent again)."""
        with contextlib.suppress(*TRANSPORT_ERRORS):
            async with asyncio.timeout(ACK_GRACE_S):
                while self.outbox.in_flight and (raw := await conn.read_line()) is not None:
                    with contextlib.suppress(IrcParseError):
                        await self._handle(conn, parse_line(raw))

    async def _handle(self, conn: LineConnection, line: IrcLine) -> bool:
        command = line.command
        if command in ("PRIVMSG", "USERNOTICE"):
            msg = to_chat_message(line)
            if msg is not None:
                self.hooks.on_message(msg)
        elif command in ("CLEARCHAT", "CLEARMSG"):
            removal = to_removal(line)
            if removal is not None:
                self.hooks.on_removal(removal)
        elif command == "PING":
            await conn.send_line(f"PONG :{line.params[-1] if line.params else 'tmi.twitch.tv'}")
        elif command == "RECONNECT":
            self.counts["twitch_reconnect_requests"] += 1
            self.log.info("twitch: server asked to reconnect")
            return True
        elif command == "001":
            await conn.send_line(f"JOIN #{self.channel}")
        elif command in ("ROOMSTATE", "JOIN") and line.channel == self.channel:
            if command == "ROOMSTATE" or line.nick == self.login:
                self._start_sender(conn)
        elif command == "USERSTATE" and line.channel == self.channel:
            # the JOIN echo starts the sender, so a reply may go out before the JOIN's own
            # USERSTATE arrives: only the ones after it answer replies
            if self._join_userstate:
                self._join_userstate = False
            else:
                self.outbox.answered()
            self._update_limit(line)
        elif command == "NOTICE" and line.params and line.params[0] == "*":
            # "Login authentication failed": a retry with the same token fails the same way
            self.counts["twitch_auth_failed"] += 1
            self.log.error("twitch: login refused for %s: %s (check TWITCH_OAUTH_TOKEN)",
                           self.login, line.trailing)
        elif command == "NOTICE":  # e.g. msg_ratelimit, msg_duplicate, msg_timedout
            notice = line.tags.get("msg-id", "unknown")
            if notice.startswith("msg_") and line.channel == self.channel:
                self.outbox.answered()  # refused: sending it again would be refused again
            self.counts[f"twitch_notice_{notice}"] += 1
            self.log.info("twitch: notice %s: %s", notice, line.trailing)
        return False

    def _update_limit(self, line: IrcLine) -> None:
        badges = line.tags.get("badges", "")
        privileged = line.tags.get("mod") == "1" or "broadcaster/" in badges or \
            "moderator/" in badges
        limit = self.settings.send_limit_mod if privileged else self.settings.send_limit
        if limit != self.limiter.limit:
            self.log.info("twitch: send limit now %d per %.0f s", limit,
                          self.settings.send_window_s)
            self.limiter.set_limit(limit)

    def _start_sender(self, conn: LineConnection) -> None:
        if self.joined.is_set():
            return
        self.joined.set()
        self._sender = asyncio.get_running_loop().create_task(self._send_loop(conn))

    async def _stop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def _requeue(self) -> None:
        resent = self.outbox.requeue(time.monotonic())
        if resent:
            self.counts["twitch_say_resent"] += resent
            self.log.info("twitch: %d unanswered repl%s will be sent again", resent,
                          "y" if resent == 1 else "ies")
        if self.outbox.pending:
            self._queued.set()

    async def _send_loop(self, conn: LineConnection) -> None:
        """Write replies to ``conn`` within the send limit until cancelled (the session
        ended) or the connection fails (then it is closed, which ends the session). A reply
        is taken only once the limit lets it go, so its age is judged when it would leave,
        and a slot is spent only on a line that goes out."""
        while True:
            await self._queued.wait()
            while (wait := self.limiter.delay(time.monotonic())) > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            reply, stale = self.outbox.take(now)
            if stale:
                self.counts["twitch_say_dropped_stale"] += stale
                self.log.warning("twitch: dropped %d repl%s that waited over %g s to be sent",
                                 stale, "y" if stale == 1 else "ies", self.outbox.max_age_s)
            if reply is None:
                self._queued.clear()
                continue
            self.limiter.try_acquire(now)  # free: delay() said so and nothing ran since
            self.outbox.sent(reply, now)  # written from here on, maybe in part
            try:
                await conn.send_line(reply.line)
            except TRANSPORT_ERRORS as exc:
                self.log.warning("twitch: sending failed (%s); reconnecting",
                                 type(exc).__name__)
                with contextlib.suppress(*TRANSPORT_ERRORS):
                    await conn.close()  # the reader sees it and the session ends
                return
            self.counts["twitch_say_sent"] += 1

    def _bad_line(self, reason: str) -> None:
        self.counts["twitch_bad_lines"] += 1
        if not self._bad_logged:
            self._bad_logged = True
            self.log.warning("twitch: ignored a malformed line: %s (logged once)", reason)
