"""Which nodes live but hang: their process runs, their heartbeats stopped.

supervisord restarts a program that exits; a node whose loop is deadlocked, or that was
stopped (SIGSTOP), keeps its process and only drops out of vtbus's registry. `HangWatch`
reads the registry's graphs (pure: every call takes ``now``) and names each node whose last
heartbeat is older than its ``hang_timeout_s``; vtlaunch then kills it (SIGKILL: a stopped
process never handles SIGTERM) and supervisord starts it again.

A node is judged only after it was seen on the bus with its current pid: a node still
loading its model before it joins is starting, not hung, whatever it takes. Heartbeats are
sent by the node's event loop (``bus/node.py``), so a node that blocks its loop after joining
(a model loaded without ``asyncio.to_thread``) looks hung: such a node needs a larger
``hang_timeout_s`` (0 turns the watch off). Silence of the registry itself is not held
against the nodes: after vtbus restarts (a new epoch) or its answers stop for a while, every
node is given ``hang_timeout_s`` again from the moment the registry answers anew.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus import protocol as p

__all__ = ["HangWatch", "Hung"]


@dataclass(frozen=True)
class Hung:
    name: str
    pid: int
    """The pid that stopped beating (kill only that one: the program may have restarted)."""
    silent_s: float
    """Seconds since its last heartbeat (or since the registry answered anew)."""
    timeout_s: float


@dataclass
class _Seen:
    pid: int
    heard_at: float
    """When its last heartbeat reached vtbus, on the caller's clock."""


class HangWatch:
    """Parameters
    ----------
    timeouts:
        Node program name -> seconds without a heartbeat before it counts as hung (0: never).
    registry_gap_s:
        A pause this long between two graphs means the registry itself was away (vtbus
        stopped or restarting): the nodes' silence is counted again from the next graph.
    """

    def __init__(self, timeouts: Mapping[str, float], *, registry_gap_s: float = 2.0):
        self.timeouts = {name: t for name, t in timeouts.items() if t > 0}
        self.registry_gap_s = registry_gap_s
        self._seen: dict[str, _Seen] = {}
        self._epoch = ""
        self._last_graph_at: float | None = None
        self._registry_since = 0.0

    def observe(self, graph: p.Graph, now: float) -> list[Hung]:
        """Take one graph of the registry, received at ``now``; the nodes hung now."""
        if (graph.epoch != self._epoch or self._last_graph_at is None
                or now - self._last_graph_at > self.registry_gap_s):
            self._registry_since = now
        self._epoch = graph.epoch
        self._last_graph_at = now
        for status in graph.nodes:
            name = status.info.name
            if name in self.timeouts:
                self._seen[name] = _Seen(status.info.pid, now - status.heartbeat_age_s)
        hung = []
        for name, seen in self._seen.items():
            silent = now - max(seen.heard_at, self._registry_since)
            if silent > self.timeouts[name]:
                hung.append(Hung(name, seen.pid, silent, self.timeouts[name]))
        return hung

    def forget(self, name: str) -> None:
        """``name`` was restarted (or stopped): judge it again once it is seen anew."""
        self._seen.pop(name, None)
