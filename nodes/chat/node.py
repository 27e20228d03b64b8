"""The chat node: platforms in, every message on ``chat/message``, the best one on ``chat/next``.

Wiring only; the decisions live in `nodes.chat.triage`, `nodes.chat.commands` and the sources
(`nodes.chat.sources`: built by kind through its registry).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

from bus.errors import ParameterError
from bus.node import Node, NodeOptions, Trace
from messages.chat import ChatMessage, ChatNext, ChatNextRequest, ChatNextResponse, ChatSay
from messages.director import Persona
from nodes.chat.commands import Commands, CommandSpec
from nodes.chat.credentials import Secrets
from nodes.chat.params import Params
from nodes.chat.removal import Bans, Removal
from nodes.chat.sources import SOURCES, ChatSource, SourceHooks, settings_table, source_kinds
from nodes.chat.triage import Triage, TriageConfig

__all__ = ["ChatNode"]

_COMMAND_PARAMETERS = ("personas", "commands", "command_prefix")


class ChatNode(Node):
    """Reads the configured sources (and ``input_topic``), triages, answers ``chat/next``."""

    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("chat", options=options)
        self.params = self.declare_parameters(Params)
        params = self.params
        self.bans = Bans()
        """Bans and timeouts still running: their users' later messages are dropped."""
        self.secrets = Secrets(log=self.log)
        """The sources' tokens; chat text that quotes one is published redacted."""
        try:
            self.triage = Triage(msgspec.convert(params.triage, TriageConfig), self.counters)
            self.commands = Commands(**self._command_rules({}))
        except (msgspec.ValidationError, ValueError) as exc:
            raise ParameterError(f"chat node: {exc}") from None
        self.pub = self.create_publisher(ChatMessage, "chat/message")
        self.create_service(ChatNext, "chat/next", self.on_next)
        self.create_subscription(ChatSay, "chat/say", self.on_say)
        self.create_subscription(Persona, "persona/active", self.on_persona)
        if params.input_topic:
            self.create_subscription(ChatMessage, params.input_topic, self.ingest)
        self.age_timer = self.create_timer(params.age_period_s, self.age)
        self.add_on_set_parameters_callback(self.on_set)
        hooks = SourceHooks(on_message=self.ingest, on_removal=self.on_removal,
                            counts=self.counters, log=self.log, secrets=self.secrets)
        values = msgspec.structs.asdict(params)
        self.sources: list[ChatSource] = [
            SOURCES.load(kind, settings_table(kind, values, params.source_settings), hooks)
            for kind in source_kinds(params.sources)]
        self.source_tasks: list[asyncio.Task[None]] = []
        self.lines_seen = 0
        """Messages ingested: the trace id of a message that came without one."""

    def _command_rules(self, changes: dict[str, Any]) -> dict[str, Any]:
        """`Commands`' arguments from the parameters, ``changes`` over the current values."""
        now = {name: changes.get(name, getattr(self.params, name))
               for name in _COMMAND_PARAMETERS}
        return {"specs": msgspec.convert(now["commands"], dict[str, CommandSpec]),
                "personas": [name.strip() for name in now["personas"].split(",")],
                "prefix": now["command_prefix"]}

    def on_set(self, changes: dict[str, Any]) -> tuple[bool, str] | None:
        """Apply the live parameters (command rules, triage, ageing period); a change that
        is refused leaves everything as it was."""
        try:
            triage = (msgspec.convert(changes["triage"], TriageConfig) if "triage" in changes
                      else None)
            if any(name in changes for name in _COMMAND_PARAMETERS):
                self.commands.configure(**self._command_rules(changes))  # checks, then sets
        except (msgspec.ValidationError, ValueError) as exc:
            return False, f"chat node: {exc}"
        if triage is not None:
            self.triage.reconfigure(triage)
        if "age_period_s" in changes:
            self.age_timer.set_period(changes["age_period_s"])
        return None

    # ---------------------------------------------------------------- callbacks

    def ingest(self, msg: ChatMessage) -> None:
        """One message from any source: command, publish, triage."""
        now = time.monotonic()
        if self.bans.covers(msg, now):  # not answered, not remembered, not run as a command
            self.counters["dropped_banned"] += 1
            return
        self.lines_seen += 1
        redaction = self.secrets.redaction
        if redaction is not None:  # a viewer (or a server) quoting the bot's token
            text, user = redaction.known(msg.text), redaction.known(msg.user)
            if (text, user) != (msg.text, msg.user):
                self.counters["secrets_redacted"] += 1
                msg = msgspec.structs.replace(msg, text=text, user=user)
        result = self.commands.handle(msg, now)
        if result is not None:
            msg = msgspec.structs.replace(msg, command=result.command)
            if result.action == "ask":
                msg = msgspec.structs.replace(msg, text=result.text, persona=result.persona)
        trace = self.current_trace() or Trace(
            f"chat/{msg.platform}/{msg.id or self.lines_seen}", time.time_ns())
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

    async def on_start(self) -> None:
        self.source_tasks = [self.create_task(self._run_source(source), source.platform)
                             for source in self.sources]

    async def on_shutdown(self) -> None:
        for task in self.source_tasks:  # before the sources close under them
            task.cancel()
        await asyncio.gather(*self.source_tasks, return_exceptions=True)
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

    def _reply(self, msg: ChatMessage, text: str) -> None:
        for source in self.sources:
            if source.platform == msg.platform and source.can_send:
                self.create_task(source.say(text, reply_to=msg.id), f"reply on {msg.platform}")
                return
        self.counters["say_no_target"] += 1
