"""Watch mode in the whole show (issue 18, "Done when"): ``vtlaunch stream.launch.toml
watch:=window:TITLE`` on the embedded default, with ``DISPLAY`` set to a real X server (the
session's Xvfb) showing the test scene window (Tk, big text).

The window switches from "LEVEL 1" to "GAME OVER": the watch node publishes a ``changed``
frame whose OCR text has it, a persona comments (a ``director/turn`` why ``watch``), the
prompt of its ``llm/request`` quotes the text read on the screen, the bundled model (SmolLM2
on llama.cpp) answers and the answer is heard (``tts/audio`` for that request, its last
playhead). Then the scene stays still for ``STILL_FRAMES`` more frames and nothing more is
said about it: no second watch turn, though the director may comment on every new scene
(``watch_comment_s`` is set to 0, so only "a still scene is no news" keeps it quiet). A
moderator's ``!watch off`` typed in chat stops the frames: the watch node's timer ticks on
with nothing captured. The show stops cleanly on Ctrl-C.

Kept cheap where it does not matter: the zero-time tone voice writing WAV files, no
microphone, avatar or memory store, no topics or banter."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.display import Xvfb
from helpers.scene_window import SceneWindow

from bus.testing import Probe, wait_until
from launch.testing import LaunchProcess
from messages.chat import ChatMessage
from messages.system import ParamSetRequest, SetParameters

ROOT = Path(__file__).resolve().parents[2]
# benchmarks/ is a folder of scripts: the repo goes first so `benchmarks.watch` imports
sys.path.insert(0, str(ROOT))

from benchmarks.watch import heard, stamped  # noqa: E402

pytestmark = pytest.mark.slow

LAUNCH = ROOT / "launch" / "stream.launch.toml"
TITLE = "Watch Show"
SCENES = ["LEVEL 1", "GAME OVER"]
WATCHED = ("game/frame", "director/turn", "llm/sentence", "llm/done", "tts/audio",
           "audio/playhead", "chat/message")
START_S = 300.0
"""For the show to come up (llama.cpp loads the model; the machine is shared)."""
WAIT_S = 300.0
"""For one step: a frame, the comment (the bundled model's reply) heard to its end."""
STILL_FRAMES = 20
"""Frames of the still scene after its comment was heard (10 s at the node's 2 fps)."""
OFF_TICKS = 10
"""The watch node's timer ticks with the watch off that must pass without a frame."""


def loud(pcm: bytes) -> bool:
    return bool(np.abs(np.frombuffer(pcm, dtype=np.int16)).max(initial=0) > 1000)


async def watch_node(probe: Probe, holds: Callable[[dict[str, Any], dict[str, int]], bool],
                     what: str) -> dict[str, int]:
    """Until the watch node's heartbeat (its parameters and counters) says ``holds``; its
    counters then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        info = (await probe.wait_for_node("watch", timeout=WAIT_S)).info
        if holds(info.parameters, info.counters):
            return dict(info.counters)
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {WAIT_S} s waiting for the watch node: {what} "
                               f"(parameters {info.parameters}, counters {info.counters})")
        await asyncio.sleep(0.2)


@pytest.mark.timeout(1200)  # the bundled model's start and one reply on a shared 2-core machine
async def test_a_new_scene_is_commented_once_and_watch_off_stops_the_frames(
        x_display: Xvfb, tmp_path: Path) -> None:
    args = [f"watch:=window:{TITLE}", "mic:=false", "avatar:=false", "memory:=false",
            "tts:=tone", "audio_device:=wav", "quiet_s:=1000", "banter_turns:=0",
            "llm_seed:=7"]
    env = {"VT_DATA_DIR": str(tmp_path), "DISPLAY": x_display.name}
    with SceneWindow(x_display.name, TITLE, SCENES) as window, \
            LaunchProcess(LAUNCH, args, env=env) as show:
        async with Probe(show.bus_url) as probe:
            for topic in WATCHED:
                probe.collect(topic)
            await asyncio.to_thread(show.wait_output, "every node on the bus", START_S)
            # not before: the director takes any subscriber of llm/request for an LLM
            probe.collect("llm/request")
            setter = probe.create_client(SetParameters, "director/set_parameters")
            assert await setter.wait_for_service(60)
            reply = await setter.call(ParamSetRequest(values={"watch_comment_s": 0.0}),
                                      timeout=10)
            assert reply.successful, reply.reason

            # the window is watched: its first frame read, and no comment on it (not news)
            _, seen = await stamped(probe, "game/frame", lambda f: "LEVEL 1" in f.text,
                                    timeout=WAIT_S, what="the first scene read")
            assert not seen.changed

            # GAME OVER: a changed frame with the text, one persona's comment quoting it, heard
            switched_ns = time.time_ns()
            await asyncio.to_thread(window.show, 1)
            changed_ns, changed = await stamped(probe, "game/frame", lambda f: f.changed,
                                                after_ns=switched_ns, timeout=WAIT_S,
                                                what="a changed frame")
            assert "GAME OVER" in changed.text, changed.text
            assert "GAME OVER" in changed.description
            turn_ns, turn = await stamped(probe, "director/turn", lambda t: t.why == "watch",
                                          timeout=WAIT_S, what="a watch turn")
            assert turn_ns >= changed_ns and turn.speaker in ("mika", "rook")
            _, request = await stamped(probe, "llm/request", lambda r: (
                r.request_id == turn.request_id and not r.prefill), timeout=WAIT_S,
                what="the comment's request")
            assert "GAME OVER" in request.messages[-1].content, request.messages[-1].content
            heard_ns = await heard(probe, turn.request_id, timeout=WAIT_S)
            (done,) = [d for d in probe.messages("llm/done") if d.request_id == turn.request_id]
            assert done.text.strip() and not done.error, done
            assert any(loud(a.pcm) for a in probe.messages("tts/audio")
                       if a.request_id == turn.request_id), "the comment was silent"

            # the scene stays: frames go on, nothing more is said about it
            await wait_until(lambda: sum(h.stamp_ns > heard_ns for h, _ in
                                         probe.received["game/frame"]) >= STILL_FRAMES,
                             WAIT_S, what=f"{STILL_FRAMES} frames of the still scene")
            after = [f for h, f in probe.received["game/frame"] if h.stamp_ns > changed_ns]
            assert all(f.scene == changed.scene and not f.changed for f in after)
            assert {t.request_id for t in probe.messages("director/turn")
                    if t.why == "watch"} == {turn.request_id}

            # a moderator's !watch off: the timer ticks on, no frame is captured
            await probe.wait_for_subscribers("chat/incoming", timeout=60)
            probe.publish("chat/incoming", ChatMessage(
                platform="twitch", user="mod", user_id="mod-1", roles=["moderator"],
                text="!watch off", id="tw-off"))
            off = await watch_node(probe, lambda params, counters: (
                params.get("source") == "" and counters.get("watch_command_off", 0) == 1),
                "source '' after !watch off")
            frames_at_off = len(probe.received["game/frame"])
            await watch_node(probe, lambda _, counters: (
                counters.get("ticks_off", 0) >= off.get("ticks_off", 0) + OFF_TICKS),
                f"{OFF_TICKS} ticks with the watch off")
            assert len(probe.received["game/frame"]) <= frames_at_off + 1  # (one in hand)
        assert await asyncio.to_thread(show.interrupt, 60) == 0, show.output
