"""bus.run with real node processes on a real bus (issue 15, item 6): a node that cannot start
says why in one fatal line, on its stderr and on ``system/log``, and exits with status 1.
Before the fix a constructor that raised a ValueError ended in a raw traceback, a failure
before the node was named was reported as ``node``, and nothing reached ``system/log``."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap

import pytest

from bus.testing import Probe
from messages.system import LogEvent

BROKEN_NODE = textwrap.dedent("""
    import os
    from bus.node import Node
    from bus.run import run

    FAIL = os.environ["VT_TEST_FAIL"]

    class Broken(Node):
        def __init__(self, *, options=None):
            if FAIL == "before_super":
                raise ValueError("no model file at /nowhere")
            super().__init__("broken", options=options)
            self.log.warning("loading the model")
            if FAIL == "constructor":
                raise ValueError("no model file at /nowhere")

        async def on_start(self):
            raise RuntimeError("the device is busy")

    run(Broken)
""")

CASES = {
    # name: (command after the python executable, environment, node name, expected text)
    "constructor raises a ValueError": (
        ["-c", BROKEN_NODE], {"VT_TEST_FAIL": "constructor"}, "broken",
        "ValueError: no model file at /nowhere"),
    "constructor raises before the node has a name": (
        ["-c", BROKEN_NODE, "--name", "launched_as"], {"VT_TEST_FAIL": "before_super"},
        "launched_as", "ValueError: no model file at /nowhere"),
    "on_start raises": (
        ["-c", BROKEN_NODE], {"VT_TEST_FAIL": "on_start"}, "broken",
        "RuntimeError: the device is busy"),
    "a parameter of the wrong type": (
        ["-m", "nodes.demo.talker", "-p", "rate_hz:=abc"], {}, "talker",
        "parameter 'rate_hz' expects float, got 'abc'"),
    "an unknown parameter": (
        ["-m", "nodes.demo.talker", "-p", "rate_hzz:=5"], {}, "talker",
        "no parameter 'rate_hzz' (did you mean rate_hz?)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
async def test_a_node_that_cannot_start_says_why_in_one_fatal_line_on_the_bus(
    case: str, bus_url: str
) -> None:
    args, env, name, expected = CASES[case]
    async with Probe(bus_url) as probe:
        probe.collect("system/log")
        await probe.wait_subscribed("system/log")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, "--bus", bus_url, env={**os.environ, **env},
            stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        lines = stderr.decode().splitlines()
        assert proc.returncode == 1, lines
        # one fatal line, naming the node and the error; no raw traceback at the left edge
        fatal = [line for line in lines if " CRITICAL " in line]
        assert len(fatal) == 1, lines
        assert f"CRITICAL {name}: " in fatal[0] and expected in fatal[0], fatal
        assert not any(line.startswith("Traceback") for line in lines), lines
        # ... and the same line on system/log, as the node's last word
        published = await probe.wait_for(
            "system/log", where=lambda e: e.node == name and e.level == "fatal")
        assert expected in published[0].message
        events: list[LogEvent] = probe.messages("system/log")
        assert [e.level for e in events if e.node == name][-1] == "fatal"

