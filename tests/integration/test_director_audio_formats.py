"""The director reads TTS audio in every format `messages.audio` declares: a cut reply keeps
the share of its words whose audio was heard, measured in frames whatever the bytes a frame."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np
import pytest

from bus.testing import NodeProcess, Probe
from messages.audio import AudioChunk, Playhead, SampleFormat
from messages.chat import ChatMessage
from messages.llm import LlmDone, LlmRequest, Sentence
from messages.speech import VadEvent
from messages.system import LogEvent

RATE = 16000
FRAMES = 2 * RATE  # two seconds of audio
WORDS = "one two three four five six seven eight nine ten."


def pcm_of(sample_format: SampleFormat, channels: int) -> bytes:
    dtype = "<i2" if sample_format == "s16le" else "<f4"
    return np.zeros((FRAMES, channels), dtype).tobytes()


@pytest.mark.parametrize(("sample_format", "channels"),
                         [("f32le", 1), ("f32le", 2), ("s16le", 2), ("s16le", 1)])
async def test_a_cut_reply_keeps_the_half_heard_in_any_format(
    sample_format: SampleFormat, channels: int, bus_url: str,
    start_node: Callable[..., NodeProcess],
) -> None:
    start_node("nodes.director", params={"banter_turns": 0, "quiet_s": 1000,
                                         "memory_timeout_s": 0.1})
    async with Probe(bus_url) as probe:
        probe.collect("llm/request", LlmRequest)
        probe.collect("audio/control")
        probe.collect("memory/turn")
        probe.collect("system/log", LogEvent)
        await probe.wait_subscribed("system/log")
        await probe.wait_for_node("director")
        await probe.wait_for_subscribers("chat/message")
        probe.publish("chat/message", ChatMessage(platform="twitch", user="ann", text="a story?",
                                                  id="m1"))
        (request,) = await probe.wait_for("llm/request", timeout=20,
                                          where=lambda r: not r.prefill)
        rid, persona = request.request_id, request.persona
        probe.publish("llm/sentence", Sentence(request_id=rid, persona=persona, index=0,
                                               text=WORDS))
        chunk = AudioChunk(persona=persona, request_id=rid, sentence_index=0, chunk_index=0,
                           pcm=pcm_of(sample_format, channels), sample_rate=RATE,
                           channels=channels, format=sample_format, text=WORDS, last=True,
                           final=True)
        # a chunk cut mid-frame is dropped (logged, counted), never counted as heard audio
        probe.publish("tts/audio", msgspec.structs.replace(chunk, pcm=chunk.pcm[:-1]))
        probe.publish("tts/audio", chunk)
        probe.publish("llm/done", LlmDone(request_id=rid, persona=persona, text=WORDS))
        half = Playhead(persona=persona, request_id=rid, sentence_index=0, sample=FRAMES // 2,
                        sample_rate=RATE, text=WORDS)
        probe.publish("audio/playhead", half)
        probe.publish("speech/vad", VadEvent(event="start", utterance_id="u1"))  # cut in
        (stop,) = await probe.wait_for("audio/control", timeout=20)
        assert stop.request_id == rid
        probe.publish("audio/playhead", msgspec.structs.replace(half, state="cut"))
        (kept,) = await probe.wait_for("memory/turn", timeout=20)
        assert kept.cut_off
        assert kept.text == "one two three four five"  # half the frames heard: half the words
        await probe.wait_for("system/log", timeout=20, where=lambda log: "tts/audio" in
                             log.message and "is not whole frames" in log.message)

