"""vttopic, vtnode and vtparam as a person (or a script) runs them, against a real show."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.hostile import HOSTILE

from bus.testing import NodeProcess, Probe
from messages.chat import ChatMessage

BIN = Path(sys.executable).parent
StartNode = Callable[..., NodeProcess]


def tool(*args: str, bus: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a tool piped (so it speaks JSON lines)."""
    return subprocess.run([str(BIN / args[0]), *args[1:], "--bus", bus], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def first_lines(*args: str, bus: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Run a tool that never ends by itself (hz, bw, delay) and read its first lines."""
    proc = subprocess.Popen([str(BIN / args[0]), *args[1:], "--bus", bus], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(json.loads(line))
            if len(lines) == count:
                break
        return lines
    finally:
        proc.terminate()
        proc.wait(timeout)


@pytest.fixture
def show(bus_url: str, start_node: StartNode) -> Iterator[str]:
    start_node("nodes.demo.talker", params={"rate_hz": 50})
    start_node("nodes.demo.listener")
    for _ in range(100):
        names = {r["name"] for r in json_lines(tool("vtnode", "list", bus=bus_url).stdout)}
        if {"talker", "listener"} <= names:
            break
    yield bus_url


class TestVtnode:
    def test_list_is_json_lines_when_piped(self, show: str) -> None:
        rows = json_lines(tool("vtnode", "list", bus=show).stdout)
        assert {r["name"] for r in rows} == {"talker", "listener"}  # tools hidden
        talker = next(r for r in rows if r["name"] == "talker")
        assert talker["publishers"] == 3 and isinstance(talker["heartbeat_age_s"], float)

    def test_list_all_shows_the_tools_too(self, show: str) -> None:
        rows = json_lines(tool("vtnode", "list", "--all", bus=show).stdout)
        assert any(r["name"].startswith("_vtnode_") for r in rows)

    def test_info(self, show: str) -> None:
        (info,) = json_lines(tool("vtnode", "info", "listener", bus=show).stdout)
        assert {s["name"] for s in info["services"]} >= {"demo/add", "listener/set_parameters"}
        assert info["parameters"] == {"slow_s": 0.0}

    def test_human_output(self, show: str) -> None:
        result = tool("vtnode", "info", "talker", "--human", bus=show)
        assert "demo/count: demo.Count" in result.stdout and "rate_hz: 50.0" in result.stdout
        assert "rate_hz: 50.0  (float, live) messages per second" in result.stdout

    def test_unknown_node(self, show: str) -> None:
        result = tool("vtnode", "info", "nobody", bus=show)
        assert result.returncode == 1
        assert "no node named 'nobody' on the bus (live: listener, talker)" in result.stderr

    def test_no_bus_is_a_clear_error(self) -> None:
        result = tool("vtnode", "list", bus="ipc:///tmp/vt-nothing-here")
        assert result.returncode == 1 and "no vtbus answers at ipc:///tmp/vt-nothing-here" in (
            result.stderr)


class TestVttopic:
    def test_list_with_types(self, show: str) -> None:
        rows = {r["topic"]: r for r in json_lines(tool("vttopic", "list", bus=show).stdout)}
        assert rows["demo/count"]["type"] == "demo.Count"
        assert rows["demo/count"]["publishers"] == ["talker"]
        assert rows["demo/count"]["subscribers"] == ["listener"]
        assert rows["demo/latest"]["latched"] is True

    def test_info(self, show: str) -> None:
        (info,) = json_lines(tool("vttopic", "info", "demo/heard", bus=show).stdout)
        assert info["publishers"] == ["listener"] and info["type"] == "demo.Count"

    def test_echo_once_and_a_field(self, show: str) -> None:
        (msg,) = json_lines(tool("vttopic", "echo", "demo/count", "--once", bus=show).stdout)
        assert msg["type"] == "demo.Count" and isinstance(msg["value"], int)
        (value,) = json_lines(tool("vttopic", "echo", "demo/count", "--once", "--field", "value",
                                   bus=show).stdout)
        assert isinstance(value, int)

    def test_echo_latched_topic_gives_the_last_value_at_once(self, show: str) -> None:
        (msg,) = json_lines(tool("vttopic", "echo", "demo/latest", "--once", "--header",
                                 bus=show).stdout)
        assert msg["header"]["publisher"] == "talker" and msg["message"]["type"] == "demo.Count"

    async def test_pub_fills_defaults_and_reaches_subscribers(self, show: str) -> None:
        async with Probe(show) as probe:
            probe.collect("demo/heard")
            await probe.wait_for("demo/heard")  # our subscription is live
            result = tool("vttopic", "pub", "demo/count", '{"value": 123456}', "--once", bus=show)
            assert result.returncode == 0, result.stderr
            (heard,) = await probe.wait_for("demo/heard", where=lambda m: m.value == 123456)
            assert heard.text == ""

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("demo/count", '{"value": "x"}'), "is not a valid Count: Expected `int`, got `str`"),
            (("demo/count", "{not json"), "is not a valid Count"),
            (("nobody/listens", "{}"), "give it with --type TAG"),
            (("x/y", "{}", "--type", "no.Such"), "unknown message type 'no.Such'"),
        ],
    )
    def test_pub_refuses_bad_input(self, show: str, args: tuple[str, ...], message: str) -> None:
        result = tool("vttopic", "pub", *args, "--once", bus=show)
        assert result.returncode == 1 and message in " ".join(result.stderr.split())

    def test_hz_measures_the_publish_rate(self, show: str) -> None:
        last = first_lines("vttopic", "hz", "demo/count", bus=show, count=2)[-1]
        assert 40 < last["rate_hz"] < 60 and last["dropped"] == 0

    def test_bw_and_delay(self, show: str) -> None:
        (bw,) = first_lines("vttopic", "bw", "demo/count", bus=show, count=1)
        assert bw["mean_bytes"] > 0 and bw["bytes_per_s"] > 0
        (delay,) = first_lines("vttopic", "delay", "demo/heard", bus=show, count=1)
        assert delay["delay_min_ms"] >= 0 and delay["chain_age_mean_ms"] >= delay["delay_min_ms"]


class TestHostileText:
    """A viewer's name with escape sequences, CR LF and rich markup, echoed at a terminal."""

    NAME = HOSTILE + " [red]not markup[/red] \x9b2J\u202e"

    async def _echo(self, bus: str, *args: str) -> subprocess.CompletedProcess[str]:
        async with Probe(bus) as probe:
            echo = subprocess.Popen(
                [str(BIN / "vttopic"), "echo", "chat/message", "--once", *args, "--bus", bus],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "COLUMNS": "400"})
            await probe.wait_for_subscribers("chat/message", timeout=30)
            probe.publish("chat/message", ChatMessage(platform="twitch", user=self.NAME,
                                                      text="hi"))
            out, err = await asyncio.to_thread(echo.communicate, timeout=30)
        return subprocess.CompletedProcess(echo.args, echo.returncode, out, err)

    @pytest.mark.parametrize("args", [("--human",), ("--human", "--field", "user")])
    async def test_echo_at_a_terminal_shows_the_name_escaped(
        self, bus_url: str, args: tuple[str, ...]
    ) -> None:
        result = await self._echo(bus_url, *args)
        assert result.returncode == 0, result.stderr
        shown = result.stdout
        assert not any(c in shown for c in "\x1b\r\x9b\u202e")
        assert "\\x1b[31mmika\\x1b[0m\\r\\n12:00:00 INFO director: FAKE LOG LINE" in shown
        assert "[red]not markup[/red]" in shown  # printed as written, not as markup

    async def test_echo_piped_is_json_with_every_control_escaped(self, bus_url: str) -> None:
        result = await self._echo(bus_url, "--json")
        (line,) = result.stdout.splitlines()
        assert line.isprintable()
        assert json.loads(line)["user"] == self.NAME


class TestVtparam:
    def test_list_get_set(self, show: str) -> None:
        (row,) = json_lines(tool("vtparam", "list", "talker", bus=show).stdout)[:1]
        assert row["name"] in {"rate_hz", "size"}
        result = tool("vtparam", "set", "listener", "slow_s", "0.25", bus=show)
        assert json_lines(result.stdout) == [{"node": "listener", "name": "slow_s", "value": 0.25}]
        (got,) = json_lines(tool("vtparam", "get", "listener", "slow_s", bus=show).stdout)
        assert got["value"] == 0.25

    async def test_a_live_parameter_read_at_use_takes_effect(self, show: str) -> None:
        async with Probe(show) as probe:
            probe.collect("demo/count")
            counts = await probe.wait_for("demo/count", count=3)
            assert all(c.text == "" for c in counts)
            result = tool("vtparam", "set", "talker", "text", "hello", bus=show)
            assert result.returncode == 0, result.stderr
            # set answers once the value is in place: what is published after it says hello
            (latest,) = json_lines(tool("vttopic", "echo", "demo/latest", "--once",
                                        bus=show).stdout)
            assert latest["text"] == "hello"
            later = await probe.wait_for("demo/count", where=lambda c: c.value > latest["value"],
                                         count=3)
            assert {c.text for c in later} == {"hello"}

    async def test_a_live_parameter_applied_by_its_callback_takes_effect(self, show: str) -> None:
        async with Probe(show) as probe:
            probe.collect("demo/count")
            await probe.wait_for("demo/count", count=10)  # 50 Hz: the probe hears them
            result = tool("vtparam", "set", "talker", "rate_hz", "0.01", bus=show)
            assert result.returncode == 0, result.stderr
            (at_set,) = json_lines(tool("vttopic", "echo", "demo/latest", "--once",
                                        bus=show).stdout)
            await asyncio.sleep(2.0)  # 100 messages at the old rate; none at the new one
            after = [c.value for c in probe.messages("demo/count") if c.value > at_set["value"]]
            assert len(after) <= 1, f"the talker still publishes at its old rate: {after}"

    def test_set_refused_says_why(self, show: str) -> None:
        result = tool("vtparam", "set", "listener", "slow_s", "soon", bus=show)
        assert result.returncode == 1
        assert ("listener refused slow_s=soon: node listener: parameter 'slow_s' expects float, "
                "got 'soon'") in " ".join(result.stderr.split())
