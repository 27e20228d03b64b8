"""Chat typed at vtlaunch's terminal reaches the chat node (supervisord gives its programs no
terminal, so vtlaunch reads the lines itself)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bus.testing import Probe

pytestmark = pytest.mark.slow


async def test_lines_typed_at_vtlaunch_become_chat(tmp_path: Path) -> None:
    launch = tmp_path / "console.launch.toml"
    launch.write_text('[launch]\nname = "console"\n\n[[node]]\nname = "chat"\n'
                      'module = "nodes.chat"\n')
    bus = f"ipc://{tempfile.mkdtemp(prefix='vt-console-', dir='/tmp')}"
    show = subprocess.Popen(
        [sys.executable, "-m", "launch.cli", str(launch), "--bus", bus, "--console", "on",
         "--color", "never"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        async with Probe(bus) as probe:
            probe.collect("chat/message")
            await probe.wait_for_node("chat", timeout=30)
            await probe.wait_for_node("_vtlaunch_console", timeout=30)
            assert show.stdin is not None
            show.stdin.write("alice: hello from the terminal\n")
            show.stdin.flush()
            (msg,) = await probe.wait_for("chat/message", timeout=20)
            assert (msg.platform, msg.user, msg.text) == (
                "console", "alice", "hello from the terminal")
    finally:
        show.send_signal(2)
        assert show.wait(30) == 0
