"""The stt node's wiring, driven through NodeHarness (no sockets): the transcript-level echo
check, and bad reference input."""

from __future__ import annotations

import numpy as np
import pytest

from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.audio import AudioChunk, AudioFrame, Playhead
from nodes.stt.node import SttNode
from nodes.stt.testing import Scene, persona_says

pytestmark = pytest.mark.slow  # loads Whisper, synthesises with Piper

T0 = 1_700_000_000_000_000_000
LINE = "Chat, tell me which level you want us to try first."


def harness(**params: object) -> NodeHarness:
    return NodeHarness(SttNode(options=NodeOptions(bus="ipc:///tmp/vt-unused",
                                                   parameters=params)))


def feed_wav(h: NodeHarness, audio: np.ndarray) -> None:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    for n, i in enumerate(range(0, len(pcm) - 1023, 1024)):
        h.feed("audio/mic", AudioFrame(pcm=pcm[i: i + 1024], start_ns=T0 + n * 32_000_000))


class TestEchoTranscripts:
    async def test_an_echo_that_beats_the_gate_is_not_transcribed(self) -> None:
        # the gate is turned off (-60 dB margins), so only the transcript check is left
        h = harness(echo_margin_db=-60.0)
        scene = Scene(seed=2).silence(0.5)
        spoken = persona_says(scene, LINE, 0.5, gain=0.5)
        scene.silence(1.0).noise(0.003)
        h.feed("tts/audio", AudioChunk(
            persona="joe", request_id="r", sentence_index=0, chunk_index=0, text=LINE,
            pcm=(spoken.samples * 32767).astype("<i2").tobytes(), sample_rate=spoken.rate,
            last=True))
        h.feed("audio/playhead", Playhead(persona="joe", request_id="r", sentence_index=0,
                                          sample=0, sample_rate=spoken.rate, state="finished",
                                          audible_ns=T0 + 500_000_000))
        await h.node.start()
        try:
            feed_wav(h, scene.audio)
            await wait_until(lambda: h.node.counters["echo_transcripts"], 60,
                             what="the echo's transcript to be dropped")
            # the utterance still ends, with no words: the director need not wait for any
            (final,) = await wait_until(lambda: h.messages("speech/final"), 10,
                                        what="the utterance's final")
        finally:
            await h.node.close()
        start, end = h.messages("speech/vad")
        assert (start.event, end.event) == ("start", "end")  # no gate
        assert (final.utterance_id, final.text, final.final) == (start.utterance_id, "", True)


class TestBadReference:
    async def test_bad_reference_messages_are_counted_and_dropped(self) -> None:
        h = harness()
        try:
            h.feed("tts/audio", AudioChunk(persona="joe", request_id="r", sentence_index=0,
                                           chunk_index=0, pcm=b"\0\0", sample_rate=0))
            h.feed("tts/audio", AudioChunk(persona="joe", request_id="r", sentence_index=0,
                                           chunk_index=0, pcm=b"\0\0" * 3, sample_rate=22050,
                                           channels=2))  # a frame and a half
            h.feed("audio/playhead", Playhead(persona="joe", request_id="r", sentence_index=0,
                                              sample=0, sample_rate=0))
            h.feed("audio/mic", AudioFrame(pcm=b"\0\0\0"))
            assert h.node.counters["bad_input"] == 4
            assert h.node.counters["callback_errors"] == 0
        finally:
            await h.node.close()

    async def test_reference_in_any_format_is_heard_alike(self) -> None:
        # the same tone as f32le stereo and as s16le mono: the same echo reference
        tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
        chunks = {"f32": (np.repeat(tone, 2).astype("<f4"), "f32le", 2),
                  "s16": ((tone * 32768).astype("<i2"), "s16le", 1)}
        h = harness()
        try:
            for request_id, (samples, sample_format, channels) in chunks.items():
                h.feed("tts/audio", AudioChunk(
                    persona="joe", request_id=request_id, sentence_index=0, chunk_index=0,
                    pcm=samples.tobytes(), sample_rate=22050, channels=channels,
                    format=sample_format, last=True))
            assert h.node.counters["bad_input"] == 0
            peaks = []
            for request_id, start_ns in (("f32", T0), ("s16", T0 + 5_000_000_000)):
                h.feed("audio/playhead", Playhead(
                    persona="joe", request_id=request_id, sentence_index=0, sample=0,
                    sample_rate=22050, state="finished", audible_ns=start_ns))
                peaks.append(h.node.reference.peak(start_ns + 200_000_000,
                                                   start_ns + 300_000_000))
            assert peaks[0] == pytest.approx(0.5**2 / 2, rel=0.1)
            assert peaks[0] == pytest.approx(peaks[1], rel=1e-3)
        finally:
            await h.node.close()
