"""Chat commands (``!ask <persona> <question>``, ``!persona``, canned replies) with a
per-role permission and cooldowns. Pure logic: the caller passes the clock.

Built in:
- ``ask``: ``!ask [persona] question`` queues the question for that persona (or anyone when
  the first word names no persona).
- ``persona``: replies with the hosts and who is on air.
Any other command comes from configuration: ``{"discord": {"reply": "Join us: ..."}}``; a
reply may use ``{user}``. Broadcaster and moderators skip cooldowns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

from messages.chat import ChatMessage

__all__ = ["ROLE_RANKS", "CommandResult", "CommandSpec", "Commands", "role_rank"]

ROLE_RANKS = {"everyone": 0, "subscriber": 1, "vip": 2, "moderator": 3, "broadcaster": 4}
"""Who may use a command: a role includes every role ranked above it."""

_ROLE_OF = {"member": "subscriber"}  # a YouTube member counts as a subscriber
BUILT_INS = ("ask", "persona")
_MAX_REMEMBERED = 10_000


class CommandSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One command's rules.

    Attributes
    ----------
    role:
        The lowest role allowed (``everyone``, ``subscriber``, ``vip``, ``moderator``,
        ``broadcaster``).
    cooldown_s:
        Seconds between two uses by anyone.
    user_cooldown_s:
        Seconds between two uses by the same user.
    reply:
        The canned answer (configured commands); empty for the built-ins.
    """

    role: str = "everyone"
    cooldown_s: float = 0.0
    user_cooldown_s: float = 0.0
    reply: str = ""


DEFAULT_SPECS = {
    "ask": CommandSpec(user_cooldown_s=30.0),
    "persona": CommandSpec(cooldown_s=10.0),
}


Action = Literal["ask", "reply", "denied", "cooldown", "invalid", "unknown"]


@dataclass(frozen=True)
class CommandResult:
    """What a command message leads to.

    ``ask``: queue ``text`` for ``persona``; ``reply``: post ``reply`` to chat; the other
    actions drop the message (``reply`` may still explain, e.g. the usage of ``!ask``).
    """

    action: Action
    command: str
    text: str = ""
    persona: str = ""
    reply: str = ""


def role_rank(roles: list[str]) -> int:
    """The highest rank among a user's roles."""
    return max((ROLE_RANKS.get(_ROLE_OF.get(r, r), 0) for r in roles), default=0)


class Commands:
    """Recognises and rules on chat commands.

    Parameters
    ----------
    specs:
        Configured commands, merged over the defaults (name without the prefix).
    personas:
        The persona names ``!ask`` accepts (case-insensitive).
    prefix:
        What starts a command.
    """

    def __init__(self, specs: dict[str, CommandSpec] | None = None,
                 personas: Sequence[str] = (),
                 *, prefix: str = "!"):
        self.specs: dict[str, CommandSpec] = {}
        self.personas: dict[str, str] = {}
        self.prefix = prefix
        self.configure(specs, personas, prefix=prefix)
        self.active_persona = ""
        self._last_use: dict[str, float] = {}
        self._last_user_use: dict[tuple[str, str], float] = {}

    def configure(self, specs: dict[str, CommandSpec] | None, personas: Sequence[str],
                  *, prefix: str) -> None:
        """Take new rules (a run-time parameter change); cooldowns already running go on.

        Raises
        ------
        ValueError
            An unknown role, or a configured command without a reply; nothing changes.
        """
        merged = {**DEFAULT_SPECS, **(specs or {})}
        for name, spec in merged.items():
            if spec.role not in ROLE_RANKS:
                raise ValueError(f"command !{name}: unknown role {spec.role!r}; "
                                 f"known: {', '.join(ROLE_RANKS)}")
            if name not in BUILT_INS and not spec.reply:
                raise ValueError(f"command !{name} needs a reply (built-ins: "
                                 f"{', '.join(BUILT_INS)})")
        if not prefix:
            raise ValueError("the command prefix must not be empty")
        self.specs = merged
        self.personas = {p.casefold(): p for p in personas if p}
        self.prefix = prefix

    def handle(self, msg: ChatMessage, now: float) -> CommandResult | None:
        """The result for a command message; None when ``msg`` is not a command."""
        if msg.kind != "text" or not msg.text.startswith(self.prefix):
            return None
        word, _, rest = msg.text[len(self.prefix):].partition(" ")
        name = word.casefold()
        if not name:
            return None
        spec = self.specs.get(name)
        if spec is None:
            return CommandResult("unknown", name)
        rank = role_rank(msg.roles)
        if rank < ROLE_RANKS[spec.role]:
            return CommandResult("denied", name)
        user = f"{msg.platform}:{msg.user_id or msg.user.casefold()}"
        if rank < ROLE_RANKS["moderator"]:
            if now - self._last_use.get(name, -1e18) < spec.cooldown_s:
                return CommandResult("cooldown", name)
            if now - self._last_user_use.get((name, user), -1e18) < spec.user_cooldown_s:
                return CommandResult("cooldown", name)
        result = self._run(name, spec, rest.strip(), msg)
        if result.action in ("ask", "reply"):
            self._last_use[name] = now
            self._last_user_use[(name, user)] = now
            if len(self._last_user_use) > _MAX_REMEMBERED:  # a raid of askers: forget the old
                self._forget(now)
        return result

    def _forget(self, now: float) -> None:
        longest = max(spec.user_cooldown_s for spec in self.specs.values())
        self._last_user_use = {key: t for key, t in self._last_user_use.items()
                               if now - t < longest}

    def _run(self, name: str, spec: CommandSpec, args: str, msg: ChatMessage) -> CommandResult:
        if name == "ask":
            first, _, question = args.partition(" ")
            persona = self.personas.get(first.casefold(), "")
            if not persona:
                question = args
            if not question.strip():
                hosts = "|".join(self.personas.values()) or "persona"
                return CommandResult("invalid", name,
                                     reply=f"@{msg.user} usage: {self.prefix}ask [{hosts}] "
                                           "<question>")
            return CommandResult("ask", name, text=question.strip(), persona=persona)
        if name == "persona":
            hosts = ", ".join(self.personas.values()) or "nobody yet"
            on_air = f" On air: {self.active_persona}." if self.active_persona else ""
            return CommandResult("reply", name, reply=f"Hosts: {hosts}.{on_air}")
        return CommandResult("reply", name, reply=spec.reply.replace("{user}", msg.user))
