"""The show's greeting in a real show on the stand-ins (issue 19, item 4): ``vtlaunch`` runs
chat, the director, the scripted LLM, the tone TTS and a WAV speaker; with no chat and
``quiet_s`` far away, only the greeting can explain a persona's words. A director restarted
mid-show (``vtnode restart director``) finds the show's last turn latched on the bus and does
not greet again; the restarted director answers chat as before.

Before the greeting existed the show said nothing here (no turn at all within the wait)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers.launch import standin_show

from bus.testing import Probe
from launch.control import find_shows
from launch.testing import LaunchProcess
from messages.chat import ChatMessage

pytestmark = pytest.mark.slow

LAUNCH = standin_show("banter_turns = 0, quiet_s = 1000.0")
WAIT_S = 60.0
"""Generous (a shared 2-core machine): the greeting comes a second or two after start."""
GREETED = "Mika has the floor (greeting)"
"""The director's terminal line when the greeting turn is asked for."""
HEARD = "Mika: "
"""The director's terminal line with what a persona said, once it was heard."""


async def test_greets_once_and_not_again_after_a_director_restart(tmp_path: Path) -> None:
    file = tmp_path / "greeting.launch.toml"
    file.write_text(LAUNCH)
    with LaunchProcess(file) as launch:
        await asyncio.to_thread(launch.wait_output, "every node on the bus", 120)
        await asyncio.to_thread(launch.wait_output, GREETED, WAIT_S)
        await asyncio.to_thread(launch.wait_output, HEARD, WAIT_S)
        async with Probe(launch.bus_url) as probe:
            probe.collect("director/turn")
            # latched: the greeting's turn reaches the probe whenever it joined
            (turn,) = await probe.wait_for("director/turn", timeout=WAIT_S)
            assert (turn.speaker, turn.why) == ("mika", "greeting")

            (control,) = find_shows(launch.bus_url)
            await asyncio.to_thread(control.restart, "director")
            await asyncio.to_thread(launch.wait_output, "the show is under way", WAIT_S)

            # the new director works: chat is answered, and that is its first turn
            probe.collect("audio/playhead")
            chat = probe.create_publisher(ChatMessage, "chat/incoming")
            await chat.wait_for_subscribers(30)
            chat.publish(ChatMessage(platform="console", user="ann", user_id="ann",
                                     text="hello there", id="c1"))
            (reply,) = await probe.wait_for("director/turn", timeout=WAIT_S,
                                            where=lambda t: t.why == "chat")
            await probe.wait_for("audio/playhead", timeout=WAIT_S, where=lambda p: (
                p.request_id == reply.request_id and p.state == "finished"))
            assert [t.why for t in probe.messages("director/turn")
                    if t.request_id != turn.request_id] == ["chat"]
        assert launch.output.count(GREETED) == 1, launch.output[-6000:]
        assert await asyncio.to_thread(launch.interrupt, 60) == 0, launch.output
