"""The show stays on air when the LLM, TTS or speaker dies mid-reply (issue 14, items 1-2).

A real ``vtlaunch`` runs chat, director, the scripted LLM, the tone TTS and a WAV speaker under
supervisord, which restarts whatever is killed. The director's audio timeout is set far beyond
every wait here: only noticing the restart (the registry) can end the broken turn in time.
Each test checks behaviour: the next chat line is answered audibly, the reason is logged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.launch import standin_show

from bus.testing import Probe
from launch.control import find_shows
from launch.testing import LaunchProcess
from messages.chat import ChatMessage

pytestmark = pytest.mark.slow

LAUNCH = standin_show(
    # the audio timeout is a last resort: 120 s means it never ends a turn in these tests
    "banter_turns = 0, quiet_s = 1000.0, audio_timeout_s = 120.0",
    # a frozen node stays listed (and vtlaunch leaves it alone) while it is handed a request
    bus="ttl_s = 30.0")
ANSWER_S = 30.0
"""Generous: with the restart noticed the answer comes in a second or two; without, never."""


class RunningShow:
    """The running show, a probe on its bus, and helpers to talk to it."""

    def __init__(self, launch: LaunchProcess, probe: Probe):
        self.launch = launch
        self.probe = probe
        (self.control,) = find_shows(launch.bus_url)
        self.chat = probe.create_publisher(ChatMessage, "chat/incoming")
        self.count = 0

    def pid(self, name: str) -> int:
        return self.control.status(name).pid

    def say(self, text: str) -> str:
        self.count += 1
        msg_id = f"c{self.count}"
        viewer = f"viewer{self.count}"  # the chat node lets one viewer queue 3 lines per 30 s
        self.chat.publish(ChatMessage(platform="console", user=viewer, user_id=viewer,
                                      text=text, id=msg_id))
        return msg_id

    async def request_for(self, text: str) -> str:
        """The id of the director's request that answers ``text``."""
        (request,) = await self.probe.wait_for("llm/request", timeout=ANSWER_S, where=lambda r: (
            not r.prefill and any(text in m.content for m in r.messages[-1:])))
        return str(request.request_id)

    async def heard(self, request_id: str) -> None:
        """Wait until the reply ``request_id`` was played to its end."""
        await self.probe.wait_for("audio/playhead", timeout=ANSWER_S, where=lambda p: (
            p.request_id == request_id and p.state == "finished"))

    async def answered(self, text: str) -> str:
        """Say ``text`` in chat; wait until its answer was heard to the end."""
        self.say(text)
        request_id = await self.request_for(text)
        await self.heard(request_id)
        return request_id

    async def logged(self, where: Callable[[Any], bool]) -> None:
        await self.probe.wait_for("system/log", timeout=ANSWER_S,
                                  where=lambda e: e.node == "director" and where(e))

    async def registered_anew(self, name: str, old_pid: int) -> None:
        """Wait until ``name`` runs again under a new pid and is on the bus."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_S
        while loop.time() < deadline:
            graph = await self.probe.graph(timeout=1.0)
            if any(s.info.name == name and s.info.pid != old_pid for s in graph.nodes):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{name} did not come back within {ANSWER_S} s")


async def subscribed(probe: Probe) -> None:
    """Wait until the probe's subscriptions so far are in force at vtbus. Topics others
    already subscribe to are not forwarded to publishers, so there is nothing to wait for on
    them; but one SUB connection's subscriptions reach vtbus in order: once a topic of the
    probe's own is forwarded back to it, all the earlier ones are in force too. (Without
    this, the first reply's request was sometimes missed.)"""
    topic = f"_probe/ready/{uuid.uuid4().hex}"
    probe.collect_raw(topic, prefix=False)
    await probe.wait_subscribed(topic)


@pytest.fixture
async def show(tmp_path: Path) -> AsyncIterator[RunningShow]:
    file = tmp_path / "recovery.launch.toml"
    file.write_text(LAUNCH)
    with LaunchProcess(file) as launch:
        await asyncio.to_thread(launch.wait_output, "every node on the bus", 120)
        async with Probe(launch.bus_url) as probe:
            for topic in ("llm/request", "llm/sentence", "llm/done", "llm/cancel",
                          "audio/playhead", "system/log"):
                probe.collect(topic)
            await subscribed(probe)
            running = RunningShow(launch, probe)
            try:
                await running.chat.wait_for_subscribers(30)
                await running.answered("hello, is the show on?")  # everything works
                yield running
            finally:
                print(launch.output[-12000:])  # pytest shows it when the test failed
        assert await asyncio.to_thread(launch.interrupt, 60) == 0, launch.output


def _freeze(show: RunningShow, name: str) -> int:
    """SIGSTOP ``name`` (what it is sent waits in its sockets); returns its pid."""
    pid = show.pid(name)
    os.kill(pid, signal.SIGSTOP)
    return pid


class TestTheLlmDies:
    async def test_killed_with_a_request_in_hand_the_request_is_asked_again(
        self, show: RunningShow
    ) -> None:
        frozen = _freeze(show, "llm")
        show.say("what is the plan for today?")
        request_id = await show.request_for("what is the plan for today?")
        os.kill(frozen, signal.SIGKILL)  # it had the request, never answered: llm/done never comes
        await show.registered_anew("llm", frozen)
        await show.heard(request_id)  # asked again of the new llm, and answered
        await show.logged(lambda e: "llm" in e.message and "restarted" in e.message)
        await show.answered("and after that?")

    async def test_stopped_and_started_again_the_chat_in_between_is_answered(
        self, show: RunningShow
    ) -> None:
        stopped = show.pid("llm")
        await asyncio.to_thread(show.control.stop, "llm")
        show.say("anyone home?")
        await asyncio.sleep(6.0)  # the streamer's `vtnode stop llm; sleep 6; vtnode start llm`
        await asyncio.to_thread(show.control.start, "llm")
        await show.registered_anew("llm", stopped)
        request_id = await show.request_for("anyone home?")
        await show.heard(request_id)
        await show.logged(lambda e: "llm" in e.message and "left" in e.message)
        await show.answered("welcome back!")


class TestTheVoiceDies:
    async def test_tts_killed_mid_reply_the_show_goes_on(self, show: RunningShow) -> None:
        frozen = _freeze(show, "tts")
        show.say("tell me something")
        request_id = await show.request_for("tell me something")
        await show.probe.wait_for("llm/done", timeout=ANSWER_S,
                                  where=lambda d: d.request_id == request_id)
        os.kill(frozen, signal.SIGKILL)  # it held the sentences: their audio never comes
        await show.registered_anew("tts", frozen)
        await show.probe.wait_for("llm/cancel", timeout=ANSWER_S,
                                  where=lambda c: c.request_id == request_id)
        await show.logged(lambda e: "tts" in e.message and "restarted" in e.message)
        await show.answered("still there?")

    async def test_speaker_killed_mid_reply_the_show_goes_on(self, show: RunningShow) -> None:
        show.say("sing me a song")
        request_id = await show.request_for("sing me a song")
        await show.probe.wait_for("audio/playhead", timeout=ANSWER_S, where=lambda p: (
            p.request_id == request_id and p.state == "playing"))
        killed = show.pid("speaker")
        os.kill(killed, signal.SIGKILL)  # the rest of the reply's audio dies with it
        await show.registered_anew("speaker", killed)
        await show.probe.wait_for("llm/cancel", timeout=ANSWER_S,
                                  where=lambda c: c.request_id == request_id)
        await show.logged(lambda e: "speaker" in e.message and "restarted" in e.message)
        await show.answered("can you hear me?")
