"""vtlaunch with real processes: a graph from a launch file, crashes, Ctrl-C, SIGKILL of
vtlaunch, live control, a crash loop, and two hosts' shares over TCP with CURVE keys."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers.ports import free_port_block

from bus.testing import NodeProcess, Probe, wait_until
from launch.control import Show, find_shows
from launch.keys import make_keys
from launch.testing import LaunchProcess, alive
from messages.demo import Count

DEMO = Path(__file__).resolve().parents[2] / "launch" / "examples" / "demo.launch.toml"
UP = "every node on the bus"

pytestmark = pytest.mark.slow


def _seqs(probe: Probe, topic: str) -> list[int]:
    return [header.seq for header, _ in probe.received[topic]]


def _consecutive(seqs: list[int]) -> bool:
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def _wait_gone(pids: set[int], timeout: float = 20.0) -> None:
    await wait_until(lambda: not any(alive(p) for p in pids), timeout,
                     what=f"processes {sorted(p for p in pids if alive(p))} to end")


def _show(launch: LaunchProcess) -> Show:
    (show,) = find_shows(launch.bus_url)
    return show


class TestGraph:
    async def test_killed_node_is_back_and_the_others_lose_nothing(self) -> None:
        with LaunchProcess(DEMO, ["rate:=50"]) as launch:
            launch.wait_output(UP)
            async with Probe(launch.bus_url) as probe:
                for topic in ("demo/count", "demo/count_b", "demo/heard"):
                    probe.collect(topic, Count)
                await probe.wait_for("demo/heard", 5)
                await probe.wait_for("demo/count_b", 5)
                victim = _show(launch).status("talker_b")
                before = _seqs(probe, "demo/count_b")
                os.kill(victim.pid, signal.SIGKILL)

                def restarted() -> bool:
                    after = _seqs(probe, "demo/count_b")[len(before):]
                    return any(seq < before[-1] for seq in after)  # a new publisher counts anew

                await wait_until(restarted, 20, what="talker_b publishing again")
                back = _show(launch).status("talker_b")
                assert back.pid != victim.pid
                assert back.restarts == 1
                await probe.wait_for("demo/heard", len(probe.messages("demo/heard")) + 5)
                assert _consecutive(_seqs(probe, "demo/count"))
                assert _consecutive(_seqs(probe, "demo/heard"))
                heard = [m.value for m in probe.messages("demo/heard")]
                assert heard == list(range(heard[0], heard[0] + len(heard)))  # all of talker_a
            pids = launch.tree()
            assert launch.interrupt() == 0
            assert "show ended cleanly" in launch.output
            await _wait_gone(pids)


class TestEnd:
    async def test_sigkill_of_vtlaunch_leaves_no_process(self, tmp_path: Path) -> None:
        file = tmp_path / "all.launch.toml"
        file.write_text(textwrap.dedent(f"""
            [[include]]
            file = "{DEMO}"
            args = {{ with_b = false }}

            [[process]]
            name = "sidecar"                  # a plain program, with a child of its own
            command = ["sh", "-c", "sleep 600 & wait"]
        """))
        with LaunchProcess(file) as launch:
            launch.wait_output(UP)
            pids = launch.tree()
            assert len(pids) >= 7  # vtlaunch, supervisord, vtbus, 2 nodes, sh, sleep
            os.kill(launch.pid, signal.SIGKILL)
            await _wait_gone(pids)

    @pytest.mark.parametrize("how", ["SIGKILL of supervisord", "Ctrl-C twice"])
    async def test_programs_end_even_when_supervisord_is_killed(self, how: str) -> None:
        with LaunchProcess(DEMO, ["with_b:=false"]) as launch:
            launch.wait_output(UP)
            pids = launch.tree()
            if how == "Ctrl-C twice":
                os.kill(launch.pid, signal.SIGINT)
                launch.wait_output("stopping the show")  # signals sent together merge into one
                os.kill(launch.pid, signal.SIGINT)
            else:
                os.kill(_show(launch).pid(), signal.SIGKILL)
            await _wait_gone(pids - {launch.pid})  # each program has its own death signal
            assert launch.proc is not None and launch.proc.wait(30) == 1
            assert "supervisord exited with status -9" in launch.output

    async def test_crash_loop_is_given_up_visibly_and_the_end_is_unclean(
        self, tmp_path: Path
    ) -> None:
        file = tmp_path / "crash.launch.toml"
        file.write_text(textwrap.dedent("""
            [[node]]
            name = "steady"
            module = "nodes.demo.talker"

            [[node]]
            name = "crasher"
            module = "nodes.mic"
            params = { wav = "/nonexistent/vt-test.wav" }    # cannot open it: dies at start
            start_retries = 1
            start_secs = 60                # however slow this machine is, it dies sooner
        """))
        with LaunchProcess(file) as launch:
            launch.wait_output("gave up: crasher entered FATAL state")
            crasher = _show(launch).status("crasher")
            assert crasher.state == "FATAL"
            assert crasher.restarts == 1
            assert _show(launch).status("steady").state in ("STARTING", "RUNNING")
            assert "mic: cannot open wav /nonexistent/vt-test.wav" in launch.output
            assert launch.interrupt() == 1
            assert "crasher crashed in a loop and was given up" in launch.output


def _vtnode(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run([sys.executable, "-m", "bus.cli.vtnode", *args, "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


class TestControl:
    async def test_logs_list_stop_start_restart(self) -> None:
        with LaunchProcess(DEMO, ["with_b:=false"]) as launch:
            launch.wait_output(UP)
            launch.wait_output("[vtbus] node listener joined")
            lines = launch.output.splitlines()
            assert any(line.startswith("vtbus       | ") for line in lines)
            assert any(line.startswith("supervisord | ") and "spawned: 'talker_a'" in line
                       for line in lines)
            assert not any(line.startswith("talker_b") for line in lines)  # with_b:=false

            rows = {r["name"]: r for r in _vtnode("list", "--bus", launch.bus_url)}
            assert list(rows) == ["vtbus", "listener", "talker_a"]
            talker = rows["talker_a"]
            assert talker["state"] in ("STARTING", "RUNNING")
            assert talker["restarts"] == 0
            assert isinstance(talker["heartbeat_age_s"], float) and talker["publishers"] >= 2
            assert rows["vtbus"]["heartbeat_age_s"] is None  # supervised, not a node

            (restarted,) = _vtnode("restart", "talker_a", "--bus", launch.bus_url)
            assert restarted["state"] == "RUNNING"
            assert restarted["restarts"] == 1
            assert restarted["pid"] != talker["pid"] and not alive(talker["pid"])

            show = _show(launch)
            stopped = show.stop("talker_a")
            assert (stopped.state, stopped.pid) == ("STOPPED", 0)
            started = show.start("talker_a")
            assert started.state == "RUNNING"
            assert started.restarts == 2
            async with Probe(launch.bus_url) as probe:
                await probe.wait_for_node("talker_a")

            with LaunchProcess(DEMO, bus_url=launch.bus_url) as second:
                assert second.proc is not None and second.proc.wait(30) == 2
                assert "a show already runs in" in second.output
            assert launch.interrupt() == 0


class TestHosts:
    async def test_two_hosts_share_a_curve_bus_and_a_stranger_cannot_join(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        keys = tmp_path / "keys"
        make_keys(keys)
        stranger = tmp_path / "stranger"  # knows the server's public key, is not authorized
        make_keys(stranger)
        (stranger / "server.key").write_bytes((keys / "server.key").read_bytes())
        port = free_port_block()
        file = tmp_path / "hosts.launch.toml"
        file.write_text(textwrap.dedent(f"""
            [bus]
            transport = "tcp"
            address = "127.0.0.1:{port}"
            keys = "keys"
            host = "hub"

            [[node]]
            name = "talker"
            module = "nodes.demo.talker"

            [[node]]
            name = "listener"
            module = "nodes.demo.listener"
            host = "edge"
        """))
        url = f"tcp://127.0.0.1:{port}"
        runtime = Path(tempfile.mkdtemp(prefix="vt-rt-", dir="/tmp"))  # short: unix sockets
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        env = {"XDG_RUNTIME_DIR": str(runtime)}
        hub = LaunchProcess(file, ["--host", "hub"], bus_url=url, env=env)
        edge = LaunchProcess(file, ["--host", "edge"], bus_url=url, env=env)
        with hub, edge:
            hub.wait_output(UP)
            edge.wait_output(UP)
            monkeypatch.setenv("VT_BUS_KEYS", str(keys))
            async with Probe(url) as probe:
                probe.collect("demo/heard", Count)
                await probe.wait_for("demo/heard", 3)  # hub's talker, through edge's listener
                graph = await probe.graph()
                assert {"talker", "listener"} <= {s.info.name for s in graph.nodes}
                assert {s.share for s in find_shows(url) for _ in s.programs()} == {"hub", "edge"}
                with NodeProcess("nodes.demo.talker", url, name="intruder",
                                 env={"VT_BUS_KEYS": str(stranger)}) as intruder, \
                        NodeProcess("nodes.demo.talker", url, name="member",
                                    env={"VT_BUS_KEYS": str(keys)}):
                    await probe.wait_for_node("member", timeout=30)
                    await asyncio.sleep(1.0)  # the intruder started first: it had its chance
                    names = {s.info.name for s in (await probe.graph()).nodes}
                    assert "intruder" not in names
                    assert intruder.proc is not None and intruder.proc.poll() is None  # trying
            assert hub.interrupt() == 0
            assert edge.interrupt() == 0
        shutil.rmtree(runtime, ignore_errors=True)
