"""Live control of a running show: its supervisord(s) over their XML-RPC unix sockets.

`find_shows` locates, from the bus URL (``--bus`` / ``VT_BUS``), every share of the show
running on this machine (``sv-SHARE.sock`` in the run folder); each `Show` lists its programs
(`ProgramStatus`: state, pid, uptime, restarts) and starts, stops and restarts them by name.
`join` puts that beside the bus's view (`bus.protocol.Graph`) for ``vtnode list``; `Registry`
asks vtbus for its graph without a node.
"""

from __future__ import annotations

import re
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

import msgspec
import zmq
from supervisor.xmlrpc import SupervisorTransport

from bus import protocol as p
from bus.address import BusAddress, resolve
from bus.errors import VtError
from launch.supervisor import run_folder

__all__ = [
    "ControlError",
    "NodeRow",
    "ProgramStatus",
    "Registry",
    "Show",
    "ShowNotRunning",
    "find_program",
    "find_shows",
    "join",
]


class ControlError(VtError):
    """supervisord refused or failed a request (unknown name, spawn error...)."""


class ShowNotRunning(ControlError):
    """No supervisord of a show answers for this bus on this machine."""


class ProgramStatus(msgspec.Struct, kw_only=True):
    """One supervised program as supervisord sees it."""

    name: str
    share: str
    """The host share (supervisord) running it: ``all`` or a host name."""
    state: str
    """STARTING, RUNNING, BACKOFF (crash loop, waiting), STOPPING, STOPPED, EXITED, FATAL."""
    pid: int
    """0 when not running."""
    uptime_s: float | None
    """Seconds since it started, when running."""
    restarts: int
    """Starts after the first since this supervisord started (crashes, restarts by hand)."""
    exit_status: int
    description: str
    """supervisord's own words (``pid 123, uptime 0:01:02``, ``Exited too quickly``)."""


_SPAWNED = re.compile(r"spawned: '([^']+)' with pid")
_SUPERVISORD_STARTED = "supervisord started with pid"


class Show:
    """One running supervisord (the whole show, or one host's share)."""

    def __init__(self, socket: Path):
        self.socket = socket
        self.share = socket.name.removeprefix("sv-").removesuffix(".sock")
        self.log = socket.with_suffix(".log")
        transport = SupervisorTransport(None, None, serverurl=f"unix://{socket}")
        self._rpc: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def programs(self) -> list[ProgramStatus]:
        """Every program, vtbus first."""
        infos = self._call("getAllProcessInfo")
        spawns = self._spawn_counts()
        found = []
        for info in infos:
            running = info["statename"] in ("RUNNING", "STARTING", "STOPPING")
            found.append(ProgramStatus(
                name=info["name"],
                share=self.share,
                state=info["statename"],
                pid=info["pid"],
                uptime_s=max(0.0, info["now"] - info["start"]) if running else None,
                restarts=max(0, spawns.get(info["name"], 0) - 1),
                exit_status=info["exitstatus"],
                description=info["description"],
            ))
        return sorted(found, key=lambda s: (s.name != "vtbus", s.name))

    def status(self, name: str) -> ProgramStatus:
        for program in self.programs():
            if program.name == name:
                return program
        raise ControlError(f"no program {name!r} in the {self.share} share")

    def start(self, name: str) -> ProgramStatus:
        """Start ``name`` and wait until it counts as started."""
        self._call("startProcess", self._full_name(name), True)
        return self.status(name)

    def stop(self, name: str) -> ProgramStatus:
        """Stop ``name`` (its whole process group) and wait until it is gone."""
        self._call("stopProcess", self._full_name(name), True)
        return self.status(name)

    def restart(self, name: str) -> ProgramStatus:
        """Stop ``name`` if it runs, then start it."""
        full = self._full_name(name)
        if self.status(name).state in ("RUNNING", "STARTING", "BACKOFF"):
            self._call("stopProcess", full, True)
        self._call("startProcess", full, True)
        return self.status(name)

    def state(self) -> str:
        """supervisord's own state: RUNNING, or SHUTDOWN while it stops the show."""
        state: dict[str, str] = self._call("getState")
        return state["statename"]

    def pid(self) -> int:
        """supervisord's own pid."""
        pid: int = self._call("getPID")
        return pid

    def has(self, name: str) -> bool:
        return any(info["name"] == name for info in self._call("getAllProcessInfo"))

    def shutdown(self) -> None:
        """Stop every program and supervisord itself (what Ctrl-C in vtlaunch does)."""
        self._call("shutdown")

    def _full_name(self, name: str) -> str:
        for info in self._call("getAllProcessInfo"):
            if info["name"] == name:
                return f"{info['group']}:{name}"
        raise ControlError(f"no program {name!r} in the {self.share} share")

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._rpc.supervisor, method)(*args)
        except xmlrpc.client.Fault as fault:
            raise ControlError(f"supervisord ({self.share}) refused {method}: "
                               f"{fault.faultString}") from None
        except OSError as exc:
            raise ShowNotRunning(f"supervisord at {self.socket} does not answer: {exc}") from None

    def _spawn_counts(self) -> dict[str, int]:
        """Starts per program since supervisord started, counted in its log."""
        counts: dict[str, int] = {}
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return counts
        for line in text[text.rfind(_SUPERVISORD_STARTED):].splitlines():
            found = _SPAWNED.search(line)
            if found:
                counts[found.group(1)] = counts.get(found.group(1), 0) + 1
        return counts


def find_shows(bus: str | None = None) -> list[Show]:
    """Every share of the show on ``bus`` (or ``VT_BUS``) running on this machine.

    Raises
    ------
    ShowNotRunning
        No supervisord socket answers in the run folder.
    """
    address = resolve(bus)
    folder = run_folder(address)
    shows = []
    for socket in sorted(folder.glob("sv-*.sock")):
        show = Show(socket)
        try:
            show.state()
        except ShowNotRunning:
            continue  # left behind by a show that was killed
        shows.append(show)
    if not shows:
        raise ShowNotRunning(
            f"no show runs on bus {address.url} on this machine (no live supervisord socket in "
            f"{folder}): start one with `vtlaunch FILE`, or name its bus with --bus / VT_BUS"
        )
    return shows


def find_program(name: str, bus: str | None = None) -> Show:
    """The share that runs ``name``."""
    shows = find_shows(bus)
    for show in shows:
        if show.has(name):
            return show
    known = sorted({s.name for show in shows for s in show.programs()})
    raise ControlError(f"no program {name!r} in this show (it has: {', '.join(known)})")


class Registry:
    """Asks vtbus for its graph without blocking: `request`, then `poll` for the answer.

    One request is outstanding at a time (a new one only after an answer, or a second
    without one): requests sent before vtbus is up are queued and all answered at once, and
    a backlog of stale graphs would hide the current one.
    """

    RETRY_S = 1.0

    def __init__(self, address: BusAddress):
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._sock = ctx.socket(zmq.DEALER)
        self._sock.linger = 0
        if address.keys is not None:
            address.keys.apply_client(self._sock)
        self._sock.connect(address.control)
        self._decoder = msgspec.msgpack.Decoder(p.Graph)
        self._asked_at: float | None = None

    def request(self) -> None:
        """Ask for the graph, unless a request is still waiting for its answer."""
        now = time.monotonic()
        if self._asked_at is None or now - self._asked_at > self.RETRY_S:
            self._sock.send_multipart([p.GRAPH], zmq.NOBLOCK)
            self._asked_at = now

    def poll(self, timeout_s: float = 0.0) -> p.Graph | None:
        """The newest graph that arrived (waiting up to ``timeout_s`` for one), else None."""
        newest = None
        while self._sock.poll(int(timeout_s * 1000) if newest is None else 0):
            frames = self._sock.recv_multipart()
            if len(frames) == 2 and frames[0] == p.GRAPH:
                newest = self._decoder.decode(frames[1])
                self._asked_at = None
        return newest

    def graph(self, timeout_s: float = 1.0) -> p.Graph | None:
        """Ask and wait."""
        self.request()
        return self.poll(timeout_s)

    def close(self) -> None:
        self._sock.close()


class NodeRow(msgspec.Struct, kw_only=True):
    """One line of ``vtnode list``: a program of the show, a node on the bus, or both."""

    name: str
    state: str
    """supervisord's state; ``-`` for a node not started by this show (run by hand)."""
    pid: int
    uptime_s: float | None
    restarts: int | None
    heartbeat_age_s: float | None
    """None: not in the registry (a plain process, vtbus itself, or a node that is down)."""
    host: str
    publishers: int
    subscriptions: int
    services: int
    pub_rate_hz: float
    """Messages per second it published, over its last heartbeat."""
    share: str
    """The supervisord share that runs it, empty when none does."""


def join(programs: list[ProgramStatus], graph: p.Graph | None, *, hidden: bool = False
         ) -> list[NodeRow]:
    """The supervisor's and the registry's views of each name, side by side: programs first,
    in their order, then nodes on the bus that no supervisord here runs."""
    on_bus = {s.info.name: s for s in graph.nodes if hidden or not s.info.hidden} if graph else {}
    rows = []
    for program in programs:
        rows.append(_row(program.name, program, on_bus.pop(program.name, None)))
    for name in sorted(on_bus):
        rows.append(_row(name, None, on_bus[name]))
    return rows


def _row(name: str, program: ProgramStatus | None, status: p.NodeStatus | None) -> NodeRow:
    info = status.info if status else None
    uptime = program.uptime_s if program else None
    if uptime is None and info is not None and program is None:
        uptime = max(0.0, time.time() - info.started_ns / 1e9)
    return NodeRow(
        name=name,
        state=program.state if program else "-",
        pid=program.pid if program and program.pid else (info.pid if info else 0),
        uptime_s=round(uptime, 1) if uptime is not None else None,
        restarts=program.restarts if program else None,
        heartbeat_age_s=round(status.heartbeat_age_s, 2) if status else None,
        host=info.host if info else "",
        publishers=len(info.publishers) if info else 0,
        subscriptions=len(info.subscriptions) if info else 0,
        services=len(info.services) if info else 0,
        pub_rate_hz=round(sum(s.rate_hz for s in info.pub_stats.values()), 1) if info else 0.0,
        share=program.share if program else "",
    )
