"""The avatar node as a real process on a real bus, driving two loopback VTS instances with
real synthesised speech (bundled Piper voice)."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fakes.speaker import SpokenSentence, mouth_agreement, piper_sentences, speak
from fakes.vts import FakeModel, FakeVts
from helpers.ports import free_port

from bus.testing import NodeProcess, Probe, wait_until
from messages.audio import AudioChunk
from messages.avatar import AvatarState
from messages.speech import VadEvent

pytestmark = pytest.mark.slow

TEXT = ("Hello there, friends. Welcome back to the show! "
        "Today we are talking about cats, and why they sit in boxes.")


@pytest.fixture(scope="module")
def sentences() -> list[SpokenSentence]:
    return piper_sentences(TEXT)


@pytest.fixture
async def two_vts() -> AsyncIterator[tuple[FakeVts, FakeVts]]:
    async with FakeVts() as aria, FakeVts() as kai:
        yield aria, kai


async def start_show(bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
                     aria: FakeVts, kai: FakeVts, **params: Any) -> Probe:
    start_node("nodes.avatar", params={
        "avatars": [
            {"persona": "aria", "host": "127.0.0.1", "port": aria.port,
             "partner_direction": 1.0},
            {"persona": "kai", "host": "127.0.0.1", "port": kai.port,
             "partner_direction": -1.0,
             "emotions": {"*": {"happy": {"hotkey": "Wave"}}}},
        ],
        "token_dir": str(tmp_path / "tokens"), "seed": 7, "emotion_hold_s": 1.0, **params,
    })
    probe = Probe(bus_url)
    await probe.start()
    probe.collect("avatar/state")
    await wait_until(lambda: aria.authenticated_sessions and kai.authenticated_sessions, 20,
                     what="both avatars to authenticate")
    await probe.wait_for_subscribers("audio/playhead")
    return probe


class TestDiscovery:
    async def test_two_instances_found_by_broadcast(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
    ) -> None:
        udp = free_port("udp")
        async with FakeVts(broadcast_port=udp, broadcast_interval_s=0.2,
                           window_title="VTube Studio") as first, \
                FakeVts(broadcast_port=udp, broadcast_interval_s=0.2,
                        window_title="VTube Studio Window 2") as second:
            start_node("nodes.avatar", params={
                "avatars": [{"persona": "aria", "match": "VTube Studio Window 2"},
                            {"persona": "kai", "match": "VTube Studio"}],
                "discovery_port": udp, "token_dir": str(tmp_path)})
            await wait_until(lambda: first.authenticated_sessions and
                             second.authenticated_sessions, 20, what="both found")
            await wait_until(lambda: first.series("MouthOpen") and second.series("MouthOpen"),
                             5, what="injections")
            assert {i.plugin for i in first.injections} == {"vtshow avatar"}
            # each persona on its own instance, with its own token
            assert len(first.tokens) == len(second.tokens) == 1
            assert (tmp_path / "aria.token").read_text().strip() in second.tokens
            assert (tmp_path / "kai.token").read_text().strip() in first.tokens


class TestShow:
    async def test_two_avatars_lip_sync_emotions_gaze(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
        two_vts: tuple[FakeVts, FakeVts], sentences: list[SpokenSentence],
    ) -> None:
        aria, kai = two_vts
        probe = await start_show(bus_url, start_node, tmp_path, aria, kai)
        played = await speak(probe.publish, "aria", "req-1", sentences,
                             emotions=["happy", "happy", "sad"])

        # the mouth opens while speech is audible and closes in the silences
        speech_open, silence_closed = mouth_agreement(played, aria.series("MouthOpen"))
        assert speech_open >= 0.8, speech_open
        assert silence_closed >= 0.85, silence_closed
        # the other avatar's mouth stays shut, and it looks toward the speaker (its left)
        assert max(v for _, v in kai.series("MouthOpen")) < 0.05
        during = [v for t, v in kai.series("FaceAngleX")
                  if played[0].start_ns + 1e9 <= t <= played[-1].end_ns]
        assert sum(during) / len(during) < -5
        # emotions follow the sentences as they are heard, with fades, and fall back
        files = [(file, active) for _, file, active, _ in aria.expression_log]
        assert files[:3] == [("Happy.exp3.json", True), ("Happy.exp3.json", False),
                             ("Sad.exp3.json", True)]
        assert all(fade == 0.4 for _, _, active, fade in aria.expression_log if active)
        await wait_until(lambda: ("Sad.exp3.json", False) in
                         [(f, a) for _, f, a, _ in aria.expression_log], 5,
                         what="neutral after the hold")
        emotions = [m.emotion for m in probe.messages("avatar/state") if m.persona == "aria"]
        assert "happy" in emotions and "sad" in emotions
        # every driven parameter was re-sent in time: VTS never took one back
        assert aria.lapses == [] and kai.lapses == []
        # one token per instance, user-only
        tokens = sorted((tmp_path / "tokens").iterdir())
        assert [p.name for p in tokens] == ["aria.token", "kai.token"]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tokens)
        assert tokens[0].read_text() != tokens[1].read_text()
        await probe.close()

    async def test_envelope_lip_sync_without_phonemes(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
        two_vts: tuple[FakeVts, FakeVts], sentences: list[SpokenSentence],
    ) -> None:
        aria, kai = two_vts
        probe = await start_show(bus_url, start_node, tmp_path, aria, kai)
        played = await speak(probe.publish, "kai", "req-2", sentences[:2], phonemes=False,
                             emotions=["happy"])
        speech_open, silence_closed = mouth_agreement(played, kai.series("MouthOpen"))
        assert speech_open >= 0.8, speech_open
        assert silence_closed >= 0.85, silence_closed
        assert [h for _, h in kai.hotkey_log] == ["hk-wave"]  # configured hotkey for happy
        await probe.close()

    async def test_vts_restart_mid_show(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
        two_vts: tuple[FakeVts, FakeVts], sentences: list[SpokenSentence],
    ) -> None:
        aria, kai = two_vts
        probe = await start_show(bus_url, start_node, tmp_path, aria, kai)
        restart_at: list[int] = []

        async def restart_soon() -> None:
            await asyncio.sleep(1.2)
            restart_at.append(time.time_ns())
            await aria.restart(downtime_s=0.5)

        restarting = asyncio.create_task(restart_soon())
        played = await speak(probe.publish, "aria", "req-3", sentences,
                             emotions=["happy", "happy", "happy"])
        await restarting
        assert aria.sessions_opened == 2 and aria.token_requests == 1
        assert aria.auth_results == [True, True]
        resumed = [t for t, _ in aria.series("MouthOpen") if t > restart_at[0]]
        assert resumed, "no injection after the restart"
        # the avatar resumes: lip sync after the reconnect, and its emotion shown again
        last = [p for p in played if p.start_ns > resumed[0]]
        speech_open, _ = mouth_agreement(last, aria.series("MouthOpen"))
        assert speech_open >= 0.8
        assert ("Happy.exp3.json", True) in [(f, a) for t, f, a, _ in aria.expression_log
                                             if t > restart_at[0]]
        states = [m for m in probe.messages("avatar/state") if m.persona == "aria"]
        assert any(m.link == "down" for m in states)
        assert states[-1].sessions == 2 or any(m.sessions == 2 for m in states)
        await probe.close()

    async def test_reconnect_without_restart_keeps_expression(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
        two_vts: tuple[FakeVts, FakeVts], sentences: list[SpokenSentence],
    ) -> None:
        aria, kai = two_vts
        probe = await start_show(bus_url, start_node, tmp_path, aria, kai, emotion_hold_s=30.0)
        await speak(probe.publish, "aria", "req-5", sentences[:1], emotions=["happy"])
        assert aria.expressions == {"Happy.exp3.json": True}
        await aria.drop_connections()
        await wait_until(lambda: aria.sessions_opened == 2 and aria.authenticated_sessions, 10,
                         what="the avatar to reconnect")
        await wait_until(lambda: "ExpressionStateRequest" in aria.requests, 5,
                         what="the expression check")
        await asyncio.sleep(0.3)
        # still on, and not switched again: one activation only
        assert aria.expressions == {"Happy.exp3.json": True}
        assert [(f, a) for _, f, a, _ in aria.expression_log] == [("Happy.exp3.json", True)]
        await probe.close()

    async def test_model_without_some_parameters_lip_sync_goes_on(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
        two_vts: tuple[FakeVts, FakeVts], sentences: list[SpokenSentence],
    ) -> None:
        """A model loaded in VTS without two of the driven parameters (error 453 for the whole
        injection): the mouth still follows the speech, and the node says once which it left
        out."""
        aria, kai = two_vts
        probe = await start_show(bus_url, start_node, tmp_path, aria, kai)
        logs = probe.collect("system/log")
        await probe.wait_subscribed("system/log")
        aria.missing_parameters = {"EyeOpenLeft", "EyeOpenRight"}
        await aria.load_model(FakeModel(name="NoBlinks"))
        played = await speak(probe.publish, "aria", "req-6", sentences[:2])
        speech_open, silence_closed = mouth_agreement(played, aria.series("MouthOpen"))
        assert speech_open >= 0.8, speech_open
        assert silence_closed >= 0.85, silence_closed
        assert not [t for t, _ in aria.series("EyeOpenLeft") if t > played[0].start_ns]
        graph = await probe.graph()
        counters = next(n.info.counters for n in graph.nodes if n.info.name == "avatar")
        assert counters["aria.missing_parameters"] == 2
        assert counters.get("kai.missing_parameters", 0) == 0
        said = [m.message for _, m in logs if "EyeOpenLeft" in m.message]
        assert len(said) == 1 and "EyeOpenRight" in said[0], said
        await probe.close()

    async def test_bad_input_dropped_node_lives(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
        two_vts: tuple[FakeVts, FakeVts], sentences: list[SpokenSentence],
    ) -> None:
        aria, kai = two_vts
        probe = await start_show(bus_url, start_node, tmp_path, aria, kai)
        probe.publish("tts/audio", AudioChunk(persona="aria", request_id="x", sentence_index=0,
                                              chunk_index=0, pcm=b"\x01\x02\x03",
                                              sample_rate=22050))
        probe.publish("tts/audio", AudioChunk(persona="nobody", request_id="x",
                                              sentence_index=0, chunk_index=0, pcm=b"",
                                              sample_rate=22050))
        played = await speak(probe.publish, "aria", "req-4", sentences[:1])
        speech_open, _ = mouth_agreement(played, aria.series("MouthOpen"))
        assert speech_open >= 0.8
        graph = await probe.graph()
        counters = next(n.info.counters for n in graph.nodes if n.info.name == "avatar")
        assert counters["bad_input"] >= 2
        assert counters["unknown_persona"] == 1
        assert isinstance(probe.messages("avatar/state")[0], AvatarState)
        await probe.close()


class TestAttention:
    async def test_the_avatars_look_toward_the_human_while_they_talk(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path,
        two_vts: tuple[FakeVts, FakeVts],
    ) -> None:
        """A voice starts and ends on speech/vad: while it lasts both heads and eyes turn to
        each avatar's ``human_direction`` (aria: her left, kai: his right), then back ahead."""
        aria, kai = two_vts
        probe = await start_show(bus_url, start_node, tmp_path, aria, kai, avatars=[
            {"persona": "aria", "host": "127.0.0.1", "port": aria.port,
             "human_direction": -1.0},
            {"persona": "kai", "host": "127.0.0.1", "port": kai.port, "partner_direction": -1.0,
             "human_direction": 1.0}])
        vad = probe.create_publisher(VadEvent, "speech/vad")
        await vad.wait_for_subscribers()
        await asyncio.sleep(1.5)
        started = time.time_ns()
        vad.publish(VadEvent(event="start", utterance_id="u1"))
        await asyncio.sleep(2.5)
        ended = time.time_ns()
        vad.publish(VadEvent(event="end", utterance_id="u1"))
        await asyncio.sleep(2.5)

        def mean(stand_in: FakeVts, param: str, start: float, end: float) -> float:
            values = [v for t, v in stand_in.series(param) if start <= t <= end]
            assert values, f"no {param} injected between {start} and {end}"
            return sum(values) / len(values)

        # eased in (0.35 s time constant): from 1 s after the start to the end
        assert mean(aria, "FaceAngleX", started + 1e9, ended) < -7
        assert mean(kai, "FaceAngleX", started + 1e9, ended) > 7
        assert mean(aria, "EyeLeftX", started + 1e9, ended) < -0.25
        assert mean(kai, "EyeRightX", started + 1e9, ended) > 0.25
        # ahead before the voice and again after it (idle wander stays within +-4 degrees)
        for stand_in in (aria, kai):
            assert abs(mean(stand_in, "FaceAngleX", started - 1e9, started)) < 5
            assert abs(mean(stand_in, "FaceAngleX", ended + 1.5e9, ended + 2.5e9)) < 5
        assert aria.lapses == [] and kai.lapses == []
        await probe.close()
