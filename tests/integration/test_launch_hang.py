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
