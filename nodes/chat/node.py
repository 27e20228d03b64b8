"""The chat node: platforms in, every message on ``chat/message``, the best one on ``chat/next``.

Wiring only; the decisions live in `nodes.chat.triage`, `nodes.chat.commands` and the sources.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

from bus.errors import CredentialError, ParameterError
from bus.node import Node, NodeOptions, Trace
from messages.chat import ChatMessage, ChatNext, ChatNextRequest, ChatNextResponse, ChatSay
from messages.director import Persona
from nodes.chat.commands import Commands, CommandSpec
from nodes.chat.credentials import RedactSecrets, bare_token, install_redaction, read_secret
from nodes.chat.removal import Bans, Removal
from nodes.chat.sources import ChatSource
from nodes.chat.sources.console import ConsoleSource
from nodes.chat.sources.twitch import TwitchSettings, TwitchSource
from nodes.chat.sources.youtube import YouTubeSettings, YouTubeSource
from nodes.chat.triage import Triage, TriageConfig

__all__ = ["ChatNode"]

SOURCES = ("console", "twitch", "youtube")


class ChatNode(Node):
    """Reads the configured platforms (and ``input_topic``), triages, answers ``chat/next``."""

    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("chat", options=options)
        p = self.declare_parameter
        sources = p("sources", "console", "comma list of: console, twitch, youtube")
        self.input_topic = p("input_topic", "chat/incoming",
                             "ChatMessages fed by other nodes or `vtbag play` (empty: none)")
        personas = p("personas", "", "comma list of persona names that !ask accepts")
        triage = p("triage", {}, "triage settings, a JSON object (see nodes/chat/README.md)")
        commands = p("commands", {}, "extra commands: {name: {role, cooldown_s, reply...}}")
        prefix = p("command_prefix", "!", "what starts a chat command")
        self.console_user = p("console_user", "viewer", "author of console lines without 'name:'")
        age_period_s = p("age_period_s", 1.0, "how often stale messages are aged out")
        self._twitch = {
            "channel": p("twitch_channel", "", "Twitch channel to join"),
            "login": p("twitch_login", "", "bot account login (default: $TWITCH_LOGIN)"),
            "url": p("twitch_url", "ircs://irc.chat.twitch.tv:6697",
                     "ircs:// (IRC over TLS) or wss:// (WebSocket); irc:// and ws:// unencrypted"),
            "ca_file": p("twitch_ca_file", "", "extra trusted CA (loopback tests)"),
            "server_hostname": p("twitch_server_hostname", "", "expected certificate host name"),
            "token_file": p("twitch_token_file", "",
                            "file holding the OAuth token (default: $TWITCH_OAUTH_TOKEN)"),
            "anonymous": p("twitch_anonymous", False, "read only, no credentials (justinfan)"),
            "send_limit": p("twitch_send_limit", 20, "messages per window as a plain user"),
            "send_limit_mod": p("twitch_send_limit_mod", 100, "messages per window as moderator"),
            "send_window_s": p("twitch_send_window_s", 30.0, "the send limit's window"),
            "backoff_initial_s": p("twitch_backoff_s", 1.0, "first reconnect delay (doubles)"),
            "backoff_max_s": p("twitch_backoff_max_s", 60.0, "longest reconnect delay"),
            "reply_max_age_s": p("twitch_reply_max_age_s", 120.0,
                                 "a reply waiting longer than this (send limit, reconnects) "
                                 "is dropped and logged"),
        }
        self._youtube = {
            "live_chat_id": p("youtube_live_chat_id", "", "the broadcast's liveChatId"),
            "api_base": p("youtube_api_base", "https://www.googleapis.com/youtube/v3",
                          "YouTube Data API root"),
            "key_file": p("youtube_key_file", "", "file holding the API key ($YOUTUBE_API_KEY)"),
            "oauth_file": p("youtube_oauth_file", "",
                            "file holding an OAuth token ($YOUTUBE_OAUTH_TOKEN); needed to reply"),
            "daily_quota": p("youtube_daily_quota", 10_000, "API units this node may use a day"),
            "quota_horizon_s": p("youtube_quota_horizon_s", 14_400.0,
                                 "spread the units left over this many seconds (0: until reset)"),
            "min_interval_s": p("youtube_min_interval_s", 0.0, "never poll faster than this"),
            "history_s": p("youtube_history_s", 60.0,
                           "skip first-page history older than this (no backlog at start)"),
        }
        self.bans = Bans()
        """Bans and timeouts still running: their users' later messages are dropped."""
        self._redaction: RedactSecrets | None = None
        """Set once a secret is read: chat text that quotes one is published redacted."""
        try:
            self.triage = Triage(msgspec.convert(triage, TriageConfig), self.counters)
            specs = msgspec.convert(commands, dict[str, CommandSpec])
            self.commands = Commands(specs, [n.strip() for n in personas.split(",")],
                                     prefix=prefix)
        except (msgspec.ValidationError, ValueError) as exc:
            raise ParameterError(f"chat node: {exc}") from None
        self.pub = self.create_publisher(ChatMessage, "chat/message")
        self.create_service(ChatNext, "chat/next", self.on_next)
        self.create_subscription(ChatSay, "chat/say", self.on_say)
        self.create_subscription(Persona, "persona/active", self.on_persona)
        if self.input_topic:
            self.create_subscription(ChatMessage, self.input_topic, self.ingest)
        self.create_timer(age_period_s, self.age)
        self.sources: list[ChatSource] = [self._make_source(name.strip())
                                          for name in sources.split(",") if name.strip()]
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._seq = 0

    # ---------------------------------------------------------------- callbacks

    def ingest(self, msg: ChatMessage) -> None:
        """One message from any source: command, publish, triage."""
        now = time.monotonic()
        if self.bans.covers(msg, now):  # not answered, not remembered, not run as a command
            self.counters["dropped_banned"] += 1
            return
        self._seq += 1
        if self._redaction is not None:  # a viewer (or a server) quoting the bot's token
            text, user = self._redaction.known(msg.text), self._redaction.known(msg.user)
            if (text, user) != (msg.text, msg.user):
                self.counters["secrets_redacted"] += 1
                msg = msgspec.structs.replace(msg, text=text, user=user)
        result = self.commands.handle(msg, now)
        if result is not None:
            msg = msgspec.structs.replace(msg, command=result.command)
            if result.action == "ask":
                msg = msgspec.structs.replace(msg, text=result.text, persona=result.persona)
        trace = self.current_trace() or Trace(
            f"chat/{msg.platform}/{msg.id or self._seq}", time.time_ns())
        with self.traced(trace):
            self.pub.publish(msg)
        if result is None or result.action == "ask":
            self.triage.offer(msg, now)
            return
        if result.reply:
            self._reply(msg, result.reply)
        if result.action == "reply":
            self.counters["command_replies"] += 1
        else:
            self.counters[f"dropped_command_{result.action}"] += 1

    def on_removal(self, removal: Removal) -> None:
        self.counters[f"removals_{removal.platform}"] += 1
        self.triage.remove(removal)
        self.bans.add(removal, time.monotonic())

    def on_next(self, request: ChatNextRequest) -> ChatNextResponse:
        message = self.triage.next(time.monotonic(), request.persona)
        return ChatNextResponse(message=message, waiting=self.triage.waiting)

    async def on_say(self, say: ChatSay) -> None:
        targets = [s for s in self.sources
                   if (not say.platform or s.platform == say.platform) and s.can_send]
        if not targets:
            self.counters["say_no_target"] += 1
        for source in targets:
            sent = await source.say(say.text, reply_to=say.reply_to)
            self.counters["say_queued" if sent else "say_refused"] += 1

    def on_persona(self, persona: Persona) -> None:
        self.commands.active_persona = persona.name

    def age(self) -> None:
        now = time.monotonic()
        self.triage.expire(now)
        self.bans.expire(now)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await super().start()
        if not self._started:
            self._started = True
            for source in self.sources:
                self._keep(self._run_source(source))

    async def on_shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for source in self.sources:
            await source.close()

    async def _run_source(self, source: ChatSource) -> None:
        try:
            await source.run()
            self.log.info("%s source finished", source.platform)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counters[f"source_failed_{source.platform}"] += 1
            self.log.exception("%s source failed; the node carries on", source.platform)

    def _keep(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reply(self, msg: ChatMessage, text: str) -> None:
        for source in self.sources:
            if source.platform == msg.platform and source.can_send:
                self._keep(source.say(text, reply_to=msg.id))
                return
        self.counters["say_no_target"] += 1

    # ---------------------------------------------------------------- sources

    def _make_source(self, name: str) -> ChatSource:
        if name == "console":
            return ConsoleSource(self.ingest, default_user=self.console_user,
                                 counts=self.counters, log=self.log)
        if name == "twitch":
            token_file = self._twitch["token_file"]
            return TwitchSource(self._twitch_settings(), self.ingest, self.on_removal,
                                counts=self.counters, log=self.log,
                                refresh_token=self._rereader("TWITCH_OAUTH_TOKEN", token_file,
                                                             "twitch", "twitch_token_file"))
        if name == "youtube":
            oauth_file = self._youtube["oauth_file"]
            return YouTubeSource(self._youtube_settings(), self.ingest, self.on_removal,
                                 counts=self.counters, log=self.log,
                                 refresh_token=self._rereader("YOUTUBE_OAUTH_TOKEN", oauth_file,
                                                              "youtube", "youtube_oauth_file"))
        raise ParameterError(f"chat node: unknown source {name!r}; known: {', '.join(SOURCES)}")

    def _rereader(self, env: str, file: str, what: str,
                  file_param: str) -> Callable[[], str] | None:
        """Re-reads a token file (an outside tool may renew it); None without a file."""
        if not file:
            return None
        return lambda: self._secret(env, file, what=what, file_param=file_param)

    def _secret(self, env: str, file: str, *, what: str, file_param: str) -> str:
        secret = read_secret(env, file, what=what, file_param=file_param)
        self._redaction = install_redaction(secret, self.log)
        return secret

    def _twitch_settings(self) -> TwitchSettings:
        t = self._twitch
        if not t["channel"]:
            raise ParameterError("chat node: the twitch source needs twitch_channel")
        token, login = "", ""
        if not t["anonymous"]:
            token = self._secret("TWITCH_OAUTH_TOKEN", t["token_file"], what="twitch",
                                 file_param="twitch_token_file")
            token = bare_token(token)
            login = t["login"] or os.environ.get("TWITCH_LOGIN", "").strip()
            if not login:
                raise CredentialError("twitch: set the environment variable TWITCH_LOGIN or the "
                                      "twitch_login parameter (the bot account's login)")
        return TwitchSettings(
            channel=t["channel"], login=login, token=token, url=t["url"], ca_file=t["ca_file"],
            server_hostname=t["server_hostname"], send_limit=t["send_limit"],
            send_limit_mod=t["send_limit_mod"], send_window_s=t["send_window_s"],
            backoff_initial_s=t["backoff_initial_s"], backoff_max_s=t["backoff_max_s"],
            reply_max_age_s=t["reply_max_age_s"],
        )

    def _youtube_settings(self) -> YouTubeSettings:
        y = self._youtube
        if not y["live_chat_id"]:
            raise ParameterError("chat node: the youtube source needs youtube_live_chat_id")
        oauth = key = ""
        if y["oauth_file"] or _env_set("YOUTUBE_OAUTH_TOKEN"):
            oauth = self._secret("YOUTUBE_OAUTH_TOKEN", y["oauth_file"], what="youtube",
                                 file_param="youtube_oauth_file")
        else:
            key = self._secret("YOUTUBE_API_KEY", y["key_file"],
                               what="youtube (or YOUTUBE_OAUTH_TOKEN to also reply)",
                               file_param="youtube_key_file")
        return YouTubeSettings(
            live_chat_id=y["live_chat_id"], api_base=y["api_base"], api_key=key,
            oauth_token=oauth, daily_quota=y["daily_quota"], quota_horizon_s=y["quota_horizon_s"],
            min_interval_s=y["min_interval_s"], history_s=y["history_s"],
        )


def _env_set(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())
