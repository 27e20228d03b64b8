"""How fast vtlaunch brings a show up, brings a killed node back, and stops.

    python benchmarks/launch.py [--json] [--runs N] [--kills N]

Figures (seconds, medians unless named otherwise):
- ``all_up_s``: vtlaunch started -> every node of the demo graph in vtbus's registry.
- ``restart_to_first_msg_s``: SIGKILL of a running node -> its first message again, as a
  subscriber on the bus receives it (target < 1.5 s); ``..._max_s`` the worst.
- ``restart_to_registry_s``: SIGKILL -> the new process in the registry.
- ``kill_to_respawn_s``: SIGKILL -> supervisord spawned the new process (its log's
  millisecond stamp): the supervision's share of the restart; the rest is the node starting.
- ``bare_start_to_first_msg_s``: baseline, same run: a node started directly (no
  supervisord) -> its first message; ``restart_vs_bare_start`` = restart / baseline: what
  supervision adds to a node's own start (supervisord respawns within ~25 ms here, once
  vtlaunch wakes it).
- ``stop_s``: SIGINT to vtlaunch -> vtlaunch exited, everything stopped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `launch` package: put the repo there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.report import arguments, emit, ratio  # noqa: E402
from bus.address import resolve  # noqa: E402
from bus.testing import BusProcess, NodeProcess, Probe  # noqa: E402
from launch.control import Registry, find_shows  # noqa: E402
from launch.testing import LaunchProcess  # noqa: E402
from messages.base import Header  # noqa: E402
from messages.demo import Count  # noqa: E402

GRAPH = """
[[node]]
name = "talker_a"
module = "nodes.demo.talker"
params = { rate_hz = 100.0 }

[[node]]
name = "talker_b"
module = "nodes.demo.talker"
params = { rate_hz = 100.0 }
remaps = { "demo/count" = "demo/count_b" }
start_secs = 1

[[node]]
name = "listener"
module = "nodes.demo.listener"
"""
NODES = {"talker_a", "talker_b", "listener"}


class _Arrivals:
    """(receipt time, seq) of every message on one topic."""

    def __init__(self, probe: Probe, topic: str):
        self.seen: list[tuple[float, int]] = []
        probe.create_subscription(Count, topic, self._on)

    def _on(self, msg: Count, header: Header) -> None:
        self.seen.append((time.monotonic(), header.seq))


async def _until(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)
    return result


def _all_up(registry: Registry) -> bool:
    graph = registry.graph(0.2)
    return graph is not None and {s.info.name for s in graph.nodes} >= NODES


async def _kills(launch: LaunchProcess, count: int
                 ) -> tuple[list[float], list[float], list[float]]:
    to_msg: list[float] = []
    to_registry: list[float] = []
    to_spawn: list[float] = []
    async with Probe(launch.bus_url) as probe:
        arrivals = _Arrivals(probe, "demo/count_b")
        (show,) = find_shows(launch.bus_url)
        for _ in range(count):
            await _until(lambda: show.status("talker_b").state == "RUNNING", 30, "RUNNING")
            mark = len(arrivals.seen)
            await _until(lambda m=mark: len(arrivals.seen) > m + 2, 10, "messages")  # type: ignore[misc]
            last_seq = arrivals.seen[-1][1]
            mark = len(arrivals.seen)
            pid = show.status("talker_b").pid
            killed, killed_wall = time.monotonic(), time.time()
            os.kill(pid, signal.SIGKILL)

            def back(m: int = mark, last: int = last_seq) -> float | None:
                for stamp, seq in arrivals.seen[m:]:
                    if seq < last:  # the new process counts from 0
                        return stamp
                return None

            async def joined(old: int = pid) -> float:
                while True:
                    graph = await probe.graph(timeout=1.0)
                    for status in graph.nodes:
                        if status.info.name == "talker_b" and status.info.pid != old:
                            return time.monotonic()
                    await asyncio.sleep(0.002)

            registry_task = asyncio.create_task(joined())
            first = await _until(back, 30, "talker_b back")
            to_msg.append(first - killed)
            to_registry.append(await asyncio.wait_for(registry_task, 30) - killed)
            spawned = _spawned_at(show.log, show.status("talker_b").pid)
            to_spawn.append(spawned - killed_wall)
    return to_msg, to_registry, to_spawn


def _spawned_at(log: Path, pid: int) -> float:
    """When supervisord logged spawning ``pid`` (wall clock, from its log line)."""
    for line in log.read_text().splitlines():
        if f"with pid {pid}" in line and "spawned:" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    raise LookupError(f"no spawn of pid {pid} in {log}")


async def _bare_start(runs: int) -> list[float]:
    times = []
    with BusProcess() as bus:
        async with Probe(bus.url) as probe:
            arrivals = _Arrivals(probe, "demo/count")
            for _ in range(runs):
                mark = len(arrivals.seen)
                started = time.monotonic()
                with NodeProcess("nodes.demo.talker", bus.url, params={"rate_hz": 100.0}):
                    await _until(lambda m=mark: len(arrivals.seen) > m, 30, "first message")  # type: ignore[misc]
                    times.append(arrivals.seen[mark][0] - started)
    return times


async def _measure(runs: int, kills: int) -> dict[str, float | int | str]:
    folder = Path(tempfile.mkdtemp(prefix="vt-lbench-", dir="/tmp"))
    file = folder / "bench.launch.toml"
    file.write_text(GRAPH)
    try:
        return await _shows(folder, runs, kills)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _shows(folder: Path, runs: int, kills: int) -> dict[str, float | int | str]:
    file = folder / "bench.launch.toml"
    bare = await _bare_start(max(3, kills))
    up: list[float] = []
    stops: list[float] = []
    to_msg: list[float] = []
    to_registry: list[float] = []
    to_spawn: list[float] = []
    for run in range(runs):
        launch = LaunchProcess(file, bus_url=f"ipc://{folder}/bus{run}")
        started = time.monotonic()
        launch.start()
        registry = Registry(resolve(launch.bus_url))
        try:
            await _until(lambda r=registry: _all_up(r), 60, "all nodes up")  # type: ignore[misc]
            up.append(time.monotonic() - started)
            if run == 0:
                to_msg, to_registry, to_spawn = await _kills(launch, kills)
            stopping = time.monotonic()
            launch.interrupt()
            stops.append(time.monotonic() - stopping)
        finally:
            registry.close()
            launch.stop()
    restart = statistics.median(to_msg)
    return {
        "all_up_s": round(statistics.median(up), 3),
        "restart_to_first_msg_s": round(restart, 3),
        "restart_to_first_msg_max_s": round(max(to_msg), 3),
        "restart_to_registry_s": round(statistics.median(to_registry), 3),
        "kill_to_respawn_s": round(statistics.median(to_spawn), 3),
        "bare_start_to_first_msg_s": round(statistics.median(bare), 3),
        "restart_vs_bare_start": ratio(restart, statistics.median(bare)),
        "stop_s": round(statistics.median(stops), 3),
        "nodes": len(NODES),
        "runs": runs,
        "kills": kills,
    }


def main(argv: list[str] | None = None) -> dict[str, float | int | str]:
    parser = arguments(__doc__)
    parser.add_argument("--runs", type=int, default=3, help="shows started and stopped")
    parser.add_argument("--kills", type=int, default=5, help="node kills in the first show")
    args = parser.parse_args(argv)
    figures = asyncio.run(_measure(args.runs, args.kills))
    return emit(figures, args.json)


if __name__ == "__main__":
    main()
