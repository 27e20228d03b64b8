"""Which chat message the AI answers next: a priority queue with filters in front of it.

Pure logic: the caller passes the clock (``time.monotonic()`` seconds) and the triage never
touches the bus. Every decision to drop a message is counted in ``counts`` by reason
(``dropped_<reason>``), which the node shows in ``vtnode info``.

Order of the tests in `Triage.offer` (the first that fails names the drop):
``system_event`` (not something to answer), ``duplicate_id`` (seen this platform id),
``blocklist``, then for unpaid messages ``empty``, ``duplicate`` (same user, same text, within
the window), ``copypasta`` (the same text from many users), the spam rules (``link``, ``caps``,
``emotes``, ``repeats``) and ``user_rate`` (per-user limit). Broadcaster and moderators skip the
spam rules and the per-user limit. Then the message waits in its tier; a full queue drops the
oldest message of the lowest tier (``overflow``), or the newcomer when it ranks lower still.
Messages leave as ``stale`` after ``max_age_s`` (``paid_max_age_s`` for paid ones), as
``removed`` when a moderator deletes them or times out / bans their author.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import msgspec

from messages.chat import ChatMessage
from nodes.chat.ratelimit import WindowLimiter
from nodes.chat.removal import Removal
from nodes.chat.spam import SpamRules, normalise

__all__ = ["PAID_KINDS", "TIERS", "Triage", "TriageConfig"]

PAID_KINDS = frozenset({"bits", "superchat", "sticker", "sub", "gift", "member", "raid"})
"""Kinds that support the stream (a raid counts: it brings an audience to thank)."""

TIERS = ("paid", "broadcaster", "moderator", "first_time", "regular", "rest")
"""Every tier name; `TriageConfig.tiers` orders them, first answered first."""

_REGULAR_ROLES = frozenset({"subscriber", "member", "vip", "returning"})
_PRIVILEGED = frozenset({"broadcaster", "moderator"})


class TriageConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Settings of the triage (the node's ``triage`` parameter, a JSON object).

    Attributes
    ----------
    tiers:
        Tier names, highest priority first; a tier left out ranks below the listed ones.
    max_queue:
        Messages waiting at most; beyond it the lowest-ranked oldest one goes.
    max_age_s, paid_max_age_s:
        How long an unpaid / paid message stays answerable.
    dedup_window_s:
        How long a user's text is remembered for duplicates and copypasta.
    copypasta_users:
        The same text from this many different users within the window is copypasta: the
        first ones pass, later ones drop.
    user_limit, user_window_s:
        Messages one user may queue per window.
    id_memory:
        Platform message ids remembered for ``duplicate_id``.
    """

    tiers: list[str] = msgspec.field(default_factory=lambda: list(TIERS))
    max_queue: int = 200
    max_age_s: float = 90.0
    paid_max_age_s: float = 600.0
    dedup_window_s: float = 60.0
    copypasta_users: int = 3
    user_limit: int = 3
    user_window_s: float = 30.0
    id_memory: int = 20_000
    blocklist: list[str] = []
    max_caps_ratio: float = 0.7
    caps_min_letters: int = 12
    max_emotes: int = 8
    max_repeat_run: int = 12
    links_allowed_roles: list[str] = msgspec.field(
        default_factory=lambda: ["broadcaster", "moderator", "vip"])

    def __post_init__(self) -> None:
        unknown = [t for t in self.tiers if t not in TIERS]
        if unknown:
            raise ValueError(f"unknown triage tier(s) {unknown}; known: {', '.join(TIERS)}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {self.max_queue}")


@dataclass(eq=False)
class _Entry:
    msg: ChatMessage
    tier: int
    arrived: float
    user_key: str
    alive: bool = True


def tier_name(msg: ChatMessage) -> str:
    """The tier a message belongs to, by kind and the author's roles."""
    if msg.kind in PAID_KINDS:
        return "paid"
    roles = set(msg.roles)
    if "broadcaster" in roles:
        return "broadcaster"
    if "moderator" in roles:
        return "moderator"
    if "first_time" in roles:
        return "first_time"
    if roles & _REGULAR_ROLES:
        return "regular"
    return "rest"


def user_key(msg: ChatMessage) -> str:
    return f"{msg.platform}:{msg.user_id or msg.user.casefold()}"


class Triage:
    """The queue of answerable messages. See the module docstring for the rules.

    Parameters
    ----------
    config:
        The rules; `TriageConfig` defaults when None.
    counts:
        Where drop decisions are counted (the node passes its ``counters``).
    """

    def __init__(self, config: TriageConfig | None = None, counts: Counter[str] | None = None):
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self._queues: list[deque[_Entry]] = []
        self._by_id: dict[str, _Entry] = {}
        self._waiting = 0
        self._ids: set[str] = set()
        self._id_order: deque[str] = deque()
        self._texts: dict[tuple[str, str], float] = {}
        self._text_users: dict[str, dict[str, float]] = {}
        self._text_order: deque[tuple[float, str, str]] = deque()
        self._user_limits: dict[str, WindowLimiter] = {}
        self.reconfigure(config or TriageConfig())

    def reconfigure(self, config: TriageConfig) -> int:
        """Take new rules (at start, or a run-time parameter change): the waiting messages
        are ranked again by the new tiers in their order of arrival, and a queue now over
        ``max_queue`` drops its lowest ones (``overflow``); returns how many. Remembered ids
        and texts go on; per-user windows start again under the new limit."""
        waiting = sorted((e for queue in self._queues for e in queue if e.alive),
                         key=lambda e: e.arrived)
        self.config = cfg = config
        self._rank = {name: i for i, name in enumerate(cfg.tiers)}
        self._queues = [deque() for _ in range(len(cfg.tiers) + 1)]
        for entry in waiting:
            entry.tier = self._rank.get(tier_name(entry.msg), len(cfg.tiers))
            self._queues[entry.tier].append(entry)
        self.spam = SpamRules(
            blocklist=cfg.blocklist, max_caps_ratio=cfg.max_caps_ratio,
            caps_min_letters=cfg.caps_min_letters, max_emotes=cfg.max_emotes,
            max_repeat_run=cfg.max_repeat_run, links_allowed_roles=cfg.links_allowed_roles,
        )
        self._user_limits.clear()
        while len(self._id_order) > cfg.id_memory:
            self._ids.discard(self._id_order.popleft())
        overflow = 0
        while self._waiting > cfg.max_queue and (victim := self._lowest()) is not None:
            self._kill(victim)
            self._drop("overflow")
            overflow += 1
        return overflow

    @property
    def waiting(self) -> int:
        """Messages that could be answered now (before ageing)."""
        return self._waiting

    def offer(self, msg: ChatMessage, now: float) -> str | None:
        """Queue ``msg`` if it passes; returns the drop reason (counted), or None if queued."""
        reason = self._verdict(msg, now) or self._enqueue(msg, now)
        if reason is not None:
            self._drop(reason)
        return reason

    def next(self, now: float, persona: str = "") -> ChatMessage | None:
        """The best waiting message (removed from the queue: it is answered once).

        With ``persona`` (any case), messages addressed to another persona stay queued for it.
        """
        self.expire(now)
        wanted = persona.casefold()
        for queue in self._queues:
            for entry in queue:
                if entry.alive and (not wanted or entry.msg.persona.casefold() in ("", wanted)):
                    self._kill(entry)
                    return entry.msg
        return None

    def remove(self, removal: Removal) -> int:
        """Apply a moderator's deletion, timeout, ban or clear; returns how many went."""
        if removal.message_id:
            entry = self._by_id.get(removal.message_id)
            victims = [entry] if entry is not None and entry.alive else []
        else:
            victims = [e for q in self._queues for e in q if e.alive and _matches(e, removal)]
        for entry in victims:
            self._kill(entry)
            self._drop("removed")
        return len(victims)

    def expire(self, now: float) -> int:
        """Age out stale messages and forget old duplicates; returns how many aged out."""
        cfg = self.config
        aged = 0
        paid_rank = self._rank.get("paid", len(cfg.tiers))
        for rank, queue in enumerate(self._queues):
            max_age = cfg.paid_max_age_s if rank == paid_rank else cfg.max_age_s
            while queue and (not queue[0].alive or now - queue[0].arrived > max_age):
                entry = queue.popleft()
                if entry.alive:
                    self._kill(entry)
                    self._drop("stale")
                    aged += 1
        self._forget_texts(now)
        for key in [k for k, limiter in self._user_limits.items() if limiter.idle(now)]:
            del self._user_limits[key]
        return aged

    # ---------------------------------------------------------------- internals

    def _forget_texts(self, now: float) -> None:
        horizon = now - self.config.dedup_window_s
        while self._text_order and self._text_order[0][0] < horizon:
            stamp, text, key = self._text_order.popleft()
            if self._texts.get((key, text)) == stamp:
                del self._texts[(key, text)]
            users = self._text_users.get(text)
            if users is not None and users.get(key) == stamp:
                del users[key]
                if not users:
                    del self._text_users[text]

    def _verdict(self, msg: ChatMessage, now: float) -> str | None:
        cfg = self.config
        if msg.kind == "system":
            return "system_event"
        if msg.id:
            if msg.id in self._ids:
                return "duplicate_id"
            self._remember_id(msg.id)
        if self.spam.blocked(msg.text):
            return "blocklist"
        if msg.kind in PAID_KINDS:
            return None
        text = normalise(msg.text)
        if not text:
            return "empty"
        self._forget_texts(now)
        key = user_key(msg)
        if (key, text) in self._texts:
            return "duplicate"
        users = self._text_users.setdefault(text, {})
        pasta = len(users) >= cfg.copypasta_users
        self._texts[(key, text)] = now
        users[key] = now
        self._text_order.append((now, text, key))
        if pasta:
            return "copypasta"
        if _PRIVILEGED.intersection(msg.roles):
            return None
        spam = self.spam.reason(msg)
        if spam is not None:
            return spam
        limiter = self._user_limits.get(key)
        if limiter is None:
            limiter = self._user_limits[key] = WindowLimiter(cfg.user_limit, cfg.user_window_s)
        if not limiter.try_acquire(now):
            return "user_rate"
        return None

    def _enqueue(self, msg: ChatMessage, now: float) -> str | None:
        """Queue ``msg``; "overflow" when the queue is full of better messages."""
        rank = self._rank.get(tier_name(msg), len(self.config.tiers))
        if self._waiting >= self.config.max_queue:
            victim = self._lowest()
            if victim is None or victim.tier < rank:
                return "overflow"
            self._kill(victim)
            self._drop("overflow")
        entry = _Entry(msg, rank, now, user_key(msg))
        self._queues[rank].append(entry)
        if msg.id:
            self._by_id[msg.id] = entry
        self._waiting += 1
        return None

    def _lowest(self) -> _Entry | None:
        """The oldest live entry of the lowest non-empty tier."""
        for queue in reversed(self._queues):
            while queue and not queue[0].alive:
                queue.popleft()
            if queue:
                return queue[0]
        return None

    def _kill(self, entry: _Entry) -> None:
        if entry.alive:
            entry.alive = False
            self._waiting -= 1
            if entry.msg.id:
                self._by_id.pop(entry.msg.id, None)

    def _remember_id(self, msg_id: str) -> None:
        self._ids.add(msg_id)
        self._id_order.append(msg_id)
        if len(self._id_order) > self.config.id_memory:
            self._ids.discard(self._id_order.popleft())

    def _drop(self, reason: str) -> None:
        self.counts[f"dropped_{reason}"] += 1


def _matches(entry: _Entry, removal: Removal) -> bool:
    msg = entry.msg
    if msg.platform != removal.platform:
        return False
    if removal.channel and msg.channel and msg.channel != removal.channel:
        return False
    if removal.everything:
        return True
    if removal.user_id and msg.user_id:
        return msg.user_id == removal.user_id
    return msg.user.casefold() == removal.user.casefold()
