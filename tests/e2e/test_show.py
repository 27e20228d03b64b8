"""The whole show, end to end: `vtlaunch stream.launch.toml` with the real bundled models
(SmolLM2 on llama.cpp, Piper), two VTube Studio stand-ins, chat fed like `vttopic pub`, the
human played by voice-activity events, and the whole run recorded as a bag."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from fakes.vts import FakeVts

from bus.bag import BagReader, Recorder, read_messages
from bus.testing import Probe
from launch.testing import LaunchProcess
from messages.chat import ChatMessage
from messages.speech import Transcript, VadEvent

pytestmark = pytest.mark.slow

LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "stream.launch.toml"


@pytest.fixture
async def vts() -> AsyncIterator[tuple[FakeVts, FakeVts]]:
    async with FakeVts() as mika, FakeVts() as rook:
        yield mika, rook


def show_args(tmp: Path, vts: tuple[FakeVts, FakeVts]) -> list[str]:
    mika, rook = vts
    avatars = [{"persona": "mika", "host": "127.0.0.1", "port": mika.port},
               {"persona": "rook", "host": "127.0.0.1", "port": rook.port}]
    return ["mic:=false", "audio_device:=wav", "quiet_s:=1000",
            f"memory_path:={tmp / 'memory'}", f"vts_token_dir:={tmp / 'tokens'}",
            f"avatars:={json.dumps(avatars)}"]


def loud(pcm: bytes) -> bool:
    return bool(np.abs(np.frombuffer(pcm, dtype=np.int16)).max(initial=0) > 1000)


async def test_two_personas_answer_in_turn_and_stop_when_interrupted(
    tmp_path: Path, vts: tuple[FakeVts, FakeVts]
) -> None:
    bag = tmp_path / "show.mcap"
    with LaunchProcess(LAUNCH, show_args(tmp_path, vts)) as show:
        await asyncio.to_thread(show.wait_output, "every node on the bus", 180)
        async with Probe(show.bus_url) as probe, Recorder(bag, bus=show.bus_url):
            for topic in ("memory/turn", "llm/done", "audio/playhead", "llm/cancel",
                          "llm/request", "director/turn"):
                probe.collect(topic)
            audio = probe.collect("tts/audio")
            chat = probe.create_publisher(ChatMessage, "chat/incoming")
            await chat.wait_for_subscribers(30)

            # chat asks Mika; Mika answers, then Rook answers her: both with real speech
            # (after the show's greeting, which the director/turn of each tells apart)
            chat.publish(ChatMessage(platform="console", user="alice", user_id="alice",
                                     text="Hi Mika! What is your favourite game?", id="c1"))

            def greeting(turn_id: str) -> bool:
                return any(t.request_id == turn_id and t.why == "greeting"
                           for t in probe.messages("director/turn"))

            turns = await probe.wait_for("memory/turn", count=2, timeout=240,
                                         where=lambda t: t.persona in ("mika", "rook")
                                         and not greeting(t.turn_id))
            assert [t.persona for t in turns[:2]] == ["mika", "rook"]
            assert all(t.text and not t.cut_off for t in turns[:2])
            spoken = {m.persona for _, m in audio if loud(m.pcm)}
            assert spoken == {"mika", "rook"}

            # the mouths moved in VTube Studio while they spoke
            for stand_in in vts:
                assert max((v for _, v in stand_in.series("MouthOpen")), default=0) > 0.3

            # the human starts talking while a persona speaks: the audio stops at once,
            # and only what was heard is remembered
            chat.publish(ChatMessage(platform="console", user="bob", user_id="bob",
                                     text="Rook, tell me a long story about a dragon.", id="c2"))
            playing = await probe.wait_for(
                "audio/playhead", timeout=240,
                where=lambda p: p.persona == "rook" and p.state == "playing" and p.sample > 8000
                and p.request_id not in {t.turn_id for t in turns})
            interrupted = playing[0].request_id
            vad = probe.create_publisher(VadEvent, "speech/vad")
            vad.publish(VadEvent(event="start", utterance_id="u1"))
            await probe.wait_for("llm/cancel", where=lambda c: c.request_id == interrupted)
            await probe.wait_for("audio/playhead", timeout=10, where=lambda p: (
                p.request_id == interrupted and p.state == "cut"))
            (kept,) = await probe.wait_for("memory/turn", timeout=20,
                                           where=lambda t: t.turn_id == interrupted)
            assert kept.cut_off
            said = " ".join(d.text for d in probe.messages("llm/done")
                            if d.request_id == interrupted)
            assert len(kept.text) < len(said) or not said  # never the unspoken rest
            await asyncio.sleep(1.0)
            after_cut = [m for _, m in audio if m.request_id == interrupted]
            count = len(after_cut)
            await asyncio.sleep(1.0)
            assert len([m for _, m in audio if m.request_id == interrupted]) == count

            # the human finishes; they are answered
            vad.publish(VadEvent(event="end", utterance_id="u1"))
            probe.create_publisher(Transcript, "speech/final").publish(
                Transcript(utterance_id="u1", text="Sorry to cut in. Mika, any plans?",
                           final=True))
            await probe.wait_for("llm/request", timeout=60, where=lambda r: any(
                "Sorry to cut in" in m.content for m in r.messages[-1:]))
        assert await asyncio.to_thread(show.interrupt, 60) == 0, show.output

    # the run is in the bag, chains traced from the chat line to the audio
    recorded = list(read_messages(bag, strict=False))
    topics = {m.topic for m in recorded}
    assert {"chat/message", "llm/request", "llm/sentence", "tts/audio", "audio/playhead",
            "director/turn", "memory/turn"} <= topics
    first_request = next(m for m in recorded if m.topic == "llm/request" and any(
        "What is your favourite game?" in t.content for t in m.msg.messages[-1:]))
    first_audio = next(m for m in recorded if m.topic == "tts/audio"
                       and m.msg.request_id == first_request.msg.request_id)
    assert first_audio.header.trace_id == first_request.header.trace_id
    # the bag knows which launch file made the show it recorded
    reader = BagReader(bag)
    list(reader.messages())
    assert reader.metadata["vtshow"]["launch_file"] == str(LAUNCH)
    assert "[[node]]" in reader.metadata["vtshow"]["launch_file_text"]


async def test_show_runs_on_zero_time_stand_ins(tmp_path: Path,
                                                vts: tuple[FakeVts, FakeVts]) -> None:
    # llm:=scripted tts:=tone is the dry run a streamer does to check the wiring
    args = [*show_args(tmp_path, vts), "llm:=scripted", "tts:=tone"]
    with LaunchProcess(LAUNCH, args) as show:
        await asyncio.to_thread(show.wait_output, "every node on the bus", 120)
        async with Probe(show.bus_url) as probe:
            probe.collect("memory/turn")
            chat = probe.create_publisher(ChatMessage, "chat/incoming")
            await chat.wait_for_subscribers(30)
            chat.publish(ChatMessage(platform="console", user="carol", text="hello!", id="c9"))
            turns = await probe.wait_for("memory/turn", count=2, timeout=60)
            assert {t.persona for t in turns} == {"mika", "rook"}
            assert "scripted reply" in turns[0].text
        assert await asyncio.to_thread(show.interrupt, 60) == 0, show.output
