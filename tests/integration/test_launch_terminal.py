"""vtlaunch at the streamer's terminal: the chat hint after every node is up, the personas'
sentences shown as they become audible (not after the turn), start-up lines folded into one
progress line at a terminal and printed as plain lines when piped."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers.ports import free_port_block

from bus.testing import Probe
from launch.control import find_shows
from launch.keys import make_keys
from launch.testing import LaunchProcess
from messages.audio import Playhead
from messages.chat import ChatMessage

REPO = Path(__file__).resolve().parents[2]
STREAM = REPO / "launch" / "stream.launch.toml"
DEMO = REPO / "launch" / "examples" / "demo.launch.toml"
HINT = "type a line to chat as a viewer"

pytestmark = pytest.mark.slow


def _dry_run() -> list[str]:
    """The zero-time stand-ins, nothing that needs a device or a model."""
    return ["llm:=scripted", "tts:=tone", "mic:=false", "avatar:=false", "memory:=false",
            "audio_device:=wav", "quiet_s:=1000", "--console", "on"]


async def test_hint_after_all_up_and_sentences_shown_as_they_are_heard() -> None:
    with LaunchProcess(STREAM, _dry_run()) as show:
        # the probe hears every playhead from the start (a greeting may come before the chat)
        async with Probe(show.bus_url) as probe:
            playheads = probe.collect("audio/playhead", Playhead)
            await asyncio.to_thread(show.wait_output, HINT, 120)
            output = show.output
            up = re.search(r"all \d+ programs up", output)
            assert up is not None and up.start() < output.index(HINT)
            chat = probe.create_publisher(ChatMessage, "chat/incoming")
            await chat.wait_for_subscribers(30)
            chat.publish(ChatMessage(platform="console", user="carol", text="hello!", id="c1"))
            deadline = time.monotonic() + 60
            while not (first := re.search(r"^(mika|rook) +\| (.*)$", show.output, re.M)):
                assert time.monotonic() < deadline, show.output[-3000:]
                await asyncio.sleep(0.02)
            heard_then = [p for _, p in playheads]
            (request,) = {p.request_id for p in heard_then if p.text == first.group(2)}
            # the whole reply, as the tts node cut it: "Hello chat," / "this is a scripted
            # reply." / "It costs no time at all."
            while not any(p.request_id == request and p.text.startswith("It costs")
                          for _, p in playheads):
                assert time.monotonic() < deadline, show.output[-3000:]
                await asyncio.sleep(0.05)
            last = max(p.sentence_index for _, p in playheads if p.request_id == request)
            # the first sentence was on the terminal before the reply's last one was heard
            assert not any(p.request_id == request and p.sentence_index == last
                           for p in heard_then)
            while "It costs no time at all." not in show.output:
                assert time.monotonic() < deadline, show.output[-3000:]
                await asyncio.sleep(0.05)
        said = [line.split("| ", 1)[1] for line in show.output.splitlines()
                if re.match(r"(mika|rook) +\| ", line)]
        assert " ".join(said[:3]) == "Hello chat, this is a scripted reply. It costs no time at all."
        assert await asyncio.to_thread(show.interrupt, 60) == 0, show.output[-3000:]


def test_start_up_lines_fold_at_a_terminal_and_stay_plain_when_piped() -> None:
    bus = f"ipc://{tempfile.mkdtemp(prefix='vt-pty-', dir='/tmp')}"
    leader, follower = pty.openpty()
    show = subprocess.Popen(
        [sys.executable, "-m", "launch.cli", str(DEMO), "--bus", bus, "--color", "never"],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 90
        while b"programs up" not in seen or not seen.endswith(b"\n"):
            assert time.monotonic() < deadline, seen[-3000:]
            try:
                seen += os.read(leader, 65536)
            except OSError:
                break
    finally:
        show.send_signal(2)
        assert show.wait(30) == 0
        os.close(leader)
    text = seen.decode(errors="replace")
    before_up = text[:text.index("programs up")]
    # routine lines rewrote one progress line in place; none became a line of its own
    assert "\r\x1b[Kstarting: " in before_up
    assert not re.search(r"^(talker_a|talker_b|listener|vtbus) +\| .* INFO ", before_up, re.M)
    # and through a pipe (LaunchProcess) every line is printed as it is
    with LaunchProcess(DEMO) as piped:
        piped.wait_output("programs up", 90)
        assert re.search(r"^vtbus +\| .* INFO ", piped.output, re.M)
        assert "\x1b[K" not in piped.output
        assert piped.interrupt() == 0


async def test_stream_file_splits_into_gpu_and_stream_hosts_on_a_curve_bus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's two hosts: `--host gpu` (models) and `--host stream` (the rest, vtbus), each
    a vtlaunch of its own, on a TCP bus with CURVE keys (here both on loopback)."""
    keys = tmp_path / "keys"
    make_keys(keys)
    url = f"tcp://127.0.0.1:{free_port_block()}"
    runtime = Path(tempfile.mkdtemp(prefix="vt-rt-", dir="/tmp"))  # short: unix sockets
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    args = ["llm:=scripted", "tts:=tone", "mic:=false", "avatar:=false", "audio_device:=wav",
            "quiet_s:=1000", f"memory_path:={tmp_path / 'memory'}", "--keys", str(keys)]
    stream = LaunchProcess(STREAM, [*args, "--host", "stream"], bus_url=url, env=env)
    gpu = LaunchProcess(STREAM, [*args, "--host", "gpu"], bus_url=url, env=env)
    try:
        with stream, gpu:
            await asyncio.to_thread(stream.wait_output, "programs up", 120)
            await asyncio.to_thread(gpu.wait_output, "programs up", 180)
            shares = {show.share: {p.name for p in show.programs()} for show in find_shows(url)}
            assert shares["gpu"] == {"llm", "tts", "memory"}
            assert {"vtbus", "chat", "director", "speaker", "game", "watch"} <= shares["stream"]
            assert not shares["gpu"] & shares["stream"]
            monkeypatch.setenv("VT_BUS_KEYS", str(keys))
            async with Probe(url) as probe:
                chat = probe.create_publisher(ChatMessage, "chat/incoming")
                await chat.wait_for_subscribers(30)
                chat.publish(ChatMessage(platform="console", user="carol", text="hi!", id="c1"))
                # chat (stream) -> director (stream) -> llm, tts (gpu) -> speaker (stream):
                # the stream share's terminal shows the sentence as it is heard
                await asyncio.to_thread(stream.wait_output, "| Hello chat,", 60)
            assert await asyncio.to_thread(gpu.interrupt, 60) == 0, gpu.output
            assert await asyncio.to_thread(stream.interrupt, 60) == 0, stream.output
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_all_up_waits_for_a_node_still_loading() -> None:
    # a node on the bus that still loads its model was counted up: "all N programs up" came
    # while the tts node loaded its voices, and the show's first reply went unheard
    with LaunchProcess(DEMO, ["rate:=5", "with_b:=false", "load_s:=3"]) as show:
        show.wait_output("programs up", 90)
        output = show.output
        assert "talker_a" in output and "loaded after 3.0 s" in output, output[-3000:]
        assert output.index("loaded after 3.0 s") < output.index("programs up"), output[-3000:]
        assert show.interrupt(60) == 0, show.output[-3000:]
