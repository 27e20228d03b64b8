"""Which processes voice the show, from the registry: who left, who restarted, who is back.

A turn passes through three roles: the LLM writes it, the TTS voices it, the speaker plays
it. A node plays a role when it publishes the role's output topic (``llm/done``, ``tts/audio``,
``audio/playhead``), whatever its name. Each of them keeps a turn's state in memory, so when
one dies mid-turn that turn cannot finish: the director must hear of it from the registry
rather than wait for a timeout. `Roster` compares registry snapshots and says:

- ``restarted``: the same name, another process (pid or start time changed): a kill that the
  supervisor answered before the registry noticed the loss;
- ``left``: gone from the registry (stopped, or its heartbeats stopped for the bus's TTL);
- ``back``: a node that left is listed again;
- ``gone``: a node that left did not come back within ``rejoin_wait_s``; the show goes on
  without it.

While a node that left is awaited, `Roster.away` names it: the floor waits for it (a turn
started now would be lost to it). When vtbus itself restarts (a new bus epoch), everything
that was in flight through it is lost: that is a change of its own, ``vtbus restarted``, of
every role; and every node re-registers at its next heartbeat: for ``bus_grace_s`` after a
new epoch, absences are not losses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = ["BUS", "Change", "Role", "Roster", "Seen"]

BUS = "vtbus"
"""The node name of the change that says the bus restarted."""


class Role(StrEnum):
    LLM = "llm"
    TTS = "tts"
    SPEAKER = "speaker"


@dataclass(frozen=True)
class Seen:
    """A node as the registry lists it."""

    name: str
    pid: int
    started_ns: int
    publishes: frozenset[str]
    """The topics it publishes."""
    loading: str = ""
    """What it still prepares (its voices, its model): '' ready."""

    def same_process(self, other: Seen) -> bool:
        return (self.pid, self.started_ns) == (other.pid, other.started_ns)


@dataclass(frozen=True)
class Change:
    """What happened to one node that plays ``roles``."""

    node: str
    what: Literal["left", "restarted", "back", "gone"]
    roles: frozenset[Role]

    def __str__(self) -> str:
        return f"{self.node} {self.what}"


@dataclass
class Roster:
    """The nodes playing each role, updated from registry snapshots.

    Parameters
    ----------
    topics:
        The topic that marks each role (after remaps).
    rejoin_wait_s:
        How long a node that left is awaited before the show goes on without it.
    bus_grace_s:
        After vtbus restarts, how long nodes have to re-register before an absence counts
        (they do at their next heartbeat, 1 s by default).
    """

    topics: Mapping[Role, str]
    rejoin_wait_s: float = 30.0
    bus_grace_s: float = 3.0
    _present: dict[str, Seen] = field(default_factory=dict, init=False)
    _away: dict[str, tuple[Seen, float]] = field(default_factory=dict, init=False)
    """Nodes that left, with when."""
    _epoch: str = field(default="", init=False)
    _bus_back_at: float | None = field(default=None, init=False)

    def roles_of(self, node: Seen) -> frozenset[Role]:
        return frozenset(role for role, topic in self.topics.items() if topic in node.publishes)

    def update(self, nodes: Iterable[Seen], epoch: str, now: float) -> list[Change]:
        """Take a registry snapshot at ``now``; returns what changed since the last one."""
        changes: list[Change] = []
        if epoch != self._epoch:
            if self._epoch:
                self._bus_back_at = now
                changes.append(Change(BUS, "restarted", frozenset(Role)))
            self._epoch = epoch
        settling = self._bus_back_at is not None and now - self._bus_back_at < self.bus_grace_s
        listed: dict[str, Seen] = {}
        for node in nodes:
            roles = self.roles_of(node)
            if not roles:
                continue
            listed[node.name] = node
            before = self._present.get(node.name)
            if node.name in self._away:
                del self._away[node.name]
                changes.append(Change(node.name, "back", roles))
            elif before is not None and not before.same_process(node):
                changes.append(Change(node.name, "restarted", roles | self.roles_of(before)))
        for name, before in self._present.items():
            if name not in listed:
                if settling:  # re-registering after the bus restart: not gone
                    listed[name] = before
                else:
                    self._away[name] = (before, now)
                    changes.append(Change(name, "left", self.roles_of(before)))
        self._present = listed
        for name, (before, left_at) in list(self._away.items()):
            if now - left_at >= self.rejoin_wait_s:
                del self._away[name]
                changes.append(Change(name, "gone", self.roles_of(before)))
        return changes

    def away(self) -> list[str]:
        """Nodes that left and are still awaited."""
        return list(self._away)

    def present(self, role: Role) -> bool:
        """Whether a node playing ``role`` is listed now."""
        return any(role in self.roles_of(node) for node in self._present.values())

    def ready(self, role: Role) -> bool:
        """Whether a node playing ``role`` is listed and done loading (it can do its part
        now: a TTS still loading its voices would leave a first reply unheard for seconds)."""
        return any(role in self.roles_of(node) and not node.loading
                   for node in self._present.values())

    def known(self, role: Role) -> bool:
        """Whether any node ever played ``role`` (a show may run without a speaker)."""
        return self.present(role) or any(role in self.roles_of(seen)
                                         for seen, _ in self._away.values())
