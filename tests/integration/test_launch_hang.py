"""vtlaunch restarts a node that lives but hangs (SIGSTOP: its heartbeats stop while its
process stays), and says why; a node that keeps beating is left alone."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

from bus.testing import wait_until
from launch.control import Show, find_shows
from launch.testing import LaunchProcess, alive

pytestmark = pytest.mark.slow


async def test_a_stopped_node_is_killed_and_restarted(tmp_path: Path) -> None:
    file = tmp_path / "hang.launch.toml"
    file.write_text(textwrap.dedent("""
        [[node]]
        name = "frozen"
        module = "nodes.demo.talker"
        hang_timeout_s = 3.0

        [[node]]
        name = "steady"
        module = "nodes.demo.listener"
    """))
    with LaunchProcess(file) as launch:
        launch.wait_output("every node on the bus")
        (show,) = find_shows(launch.bus_url)
        frozen = show.status("frozen")
        steady = show.status("steady")
        os.kill(frozen.pid, signal.SIGSTOP)

        def restarted(show: Show = show) -> bool:
            now = show.status("frozen")
            return now.state == "RUNNING" and now.pid != frozen.pid

        await wait_until(restarted, 60, what="the stopped node restarted")
        assert not alive(frozen.pid)  # SIGKILL: a stopped process never handles SIGTERM
        launch.wait_output("frozen hung: no heartbeat for")
        assert f"(pid {frozen.pid}, hang_timeout_s 3): killed (SIGKILL); supervisord starts it" \
            in launch.output
        assert show.status("steady").pid == steady.pid
        assert show.status("frozen").restarts == 1
        assert launch.interrupt() == 0


def test_a_test_failing_inside_a_show_prints_what_the_show_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An e2e test that fails keeps the evidence: vtlaunch's output (every node's log lines)
    goes to stderr, which pytest shows for a failed test, before the show is torn down."""
    file = tmp_path / "quiet.launch.toml"
    file.write_text(textwrap.dedent("""
        [[node]]
        name = "talker"
        module = "nodes.demo.talker"
    """))
    failing = pytest.raises(AssertionError, match="the test's own failure")
    with failing, LaunchProcess(file) as launch:
        launch.wait_output("every node on the bus", 120)
        raise AssertionError("the test's own failure")
    shown = capsys.readouterr().err
    assert "--- vtlaunch output" in shown and "every node on the bus" in shown
    assert launch.proc is not None and launch.proc.poll() is not None, "torn down after"
