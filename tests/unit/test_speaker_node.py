"""The speaker node's callbacks, playing into its WAV output (real time, no sound device)."""

from __future__ import annotations

import contextlib
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from helpers.audio import s16, tone

from bus.errors import ParameterError, VtError
from bus.node import NodeOptions
from bus.params import check_values, declaration_of
from bus.testing import NodeHarness, wait_until
from messages.audio import AudioChunk, Playhead, SpeakerControl
from messages.llm import Cancel
from messages.pcm import decode_mono
from nodes.speaker.node import SpeakerNode
from nodes.speaker.params import Params
from nodes.speaker.playback import OutputError, WavOutput


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **parameters: Any) -> AsyncIterator[NodeHarness]:
    async with NodeHarness(SpeakerNode, parameters={
            "device": "wav", "run_dir": str(tmp_path), **parameters}) as harness:
        yield harness


def tone_chunks(request_id: str, seconds: float, rate: int = 16000, *, final: bool = True,
                chunk_s: float = 0.04, persona: str = "a") -> list[AudioChunk]:
    pcm = s16(tone(220, seconds, rate, amplitude=0.3))
    size = 2 * int(rate * chunk_s)  # bytes: two a sample
    pieces = [pcm[i:i + size] for i in range(0, len(pcm), size)]
    return [AudioChunk(persona=persona, request_id=request_id, sentence_index=0, chunk_index=i,
                       pcm=p, sample_rate=rate, text="tone" if i == 0 else "",
                       last=i == len(pieces) - 1, final=final and i == len(pieces) - 1)
            for i, p in enumerate(pieces)]


def heads(harness: NodeHarness, state: str) -> list[Playhead]:
    return [m for m in harness.messages("audio/playhead") if m.state == state]


class TestSpeakerNode:
    async def test_plays_resampled_and_reports_the_playhead(self, tmp_path: Path) -> None:
        async with running(tmp_path) as harness:
            for chunk in tone_chunks("r", 0.3):
                harness.feed("tts/audio", chunk)
            await wait_until(lambda: heads(harness, "finished"), 5, what="the sentence's end")
            playing = heads(harness, "playing")
            assert playing and all(p.sample_rate == 16000 and p.text == "tone" for p in playing)
            assert [p.sample for p in playing] == sorted(p.sample for p in playing)
            (done,) = heads(harness, "finished")
            assert abs(done.sample - 0.3 * 16000) <= 16  # the end, in the chunk's own samples
            await wait_until(lambda: heads(harness, "idle"), 5, what="idle")

    async def test_stop_cuts_and_later_chunks_are_refused(self, tmp_path: Path) -> None:
        async with running(tmp_path) as harness:
            chunks = tone_chunks("r", 2.0)
            for chunk in chunks[:25]:
                harness.feed("tts/audio", chunk)
            await wait_until(lambda: heads(harness, "playing"), 5, what="sound")
            harness.feed("audio/control", SpeakerControl(action="stop", request_id="r"))
            (cut,) = await wait_until(lambda: heads(harness, "cut"), 5, what="the cut")
            assert 0 < cut.sample < 2.0 * 16000
            for chunk in chunks[25:]:
                harness.feed("tts/audio", chunk)
            assert harness.node.counters["late_chunks"] == len(chunks) - 25
            assert not heads(harness, "finished")

    async def test_llm_cancel_of_everything(self, tmp_path: Path) -> None:
        async with running(tmp_path) as harness:
            for chunk in tone_chunks("r", 1.0):
                harness.feed("tts/audio", chunk)
            await wait_until(lambda: heads(harness, "playing"), 5, what="sound")
            harness.feed("llm/cancel", Cancel())
            await wait_until(lambda: heads(harness, "cut"), 5, what="the cut")
            assert harness.node.counters["stopped"] == 1

    async def test_unsupported_audio_is_dropped_and_counted(self, tmp_path: Path) -> None:
        # stereo and f32le play (tests/unit/test_speaker_formats.py); half a frame, or no
        # sample rate, cannot
        async with running(tmp_path) as harness:
            stereo = AudioChunk(persona="a", request_id="r", sentence_index=0, chunk_index=0,
                                pcm=b"\0" * 402, sample_rate=16000, channels=2)
            harness.feed("tts/audio", stereo)
            # from another persona: a warning is logged once per sender and topic
            harness.feed("tts/audio", AudioChunk(persona="b", request_id="r2", sentence_index=0,
                                                 chunk_index=0, pcm=b"\0\0", sample_rate=0))
            assert harness.node.counters["bad_input"] == 2
            warnings = [e.message for e in harness.messages("system/log")]
            assert any("unsupported audio: s16le PCM of 402 bytes is not whole frames of 2 "
                       "channel(s)" in w for w in warnings)
            assert any("unsupported audio: a sample rate of 0 Hz" in w for w in warnings)

    async def test_plays_f32le_and_stereo(self, tmp_path: Path) -> None:
        # the same tone three ways; each is heard whole, its playhead counting frames, at the
        # tone's own level (stereo is mixed down, f32le is not read as s16le)
        kinds = {"f32": ("f32le", 1), "f32x2": ("f32le", 2), "s16x2": ("s16le", 2)}
        async with running(tmp_path) as harness:
            for request_id, (sample_format, channels) in kinds.items():
                for chunk in tone_chunks(request_id, 0.3):
                    frames = decode_mono(chunk.pcm, "s16le", 1).repeat(channels)  # interleaved
                    scale, dtype = (1, "<f4") if sample_format == "f32le" else (32768, "<i2")
                    chunk.pcm = (frames * scale).astype(dtype).tobytes()
                    chunk.format, chunk.channels = sample_format, channels
                    harness.feed("tts/audio", chunk)
            await wait_until(lambda: len(heads(harness, "finished")) == 3, 10,
                             what="three sentences heard to the end")
            assert harness.node.counters["bad_input"] == 0
            for done in heads(harness, "finished"):
                assert abs(done.sample - 0.3 * 16000) <= 16, done  # frames, not bytes / 2
            output = harness.node.output
        assert 0.27 < peak(output) < 0.33  # the tone's 0.3, resampled

    async def test_run_dir_from_the_environment(self, tmp_path: Path,
                                                monkeypatch: Any) -> None:
        monkeypatch.setenv("VT_RUN_DIR", str(tmp_path / "run"))
        node = SpeakerNode(options=NodeOptions(bus="ipc:///tmp/vt-speaker-unit",
                                               parameters={"device": "wav"}))
        assert node._wav_folder() == tmp_path / "run" / "speaker"
        await node.close()

    async def test_device_that_will_not_open_falls_back_to_wav(
            self, tmp_path: Path, monkeypatch: Any) -> None:
        monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-such-server")
        async with running(tmp_path, device="pulse") as harness:
            warnings = [e.message for e in harness.messages("system/log")]
            assert any("writing WAV files instead" in w for w in warnings), warnings
            for chunk in tone_chunks("r", 0.1):
                harness.feed("tts/audio", chunk)
            await wait_until(lambda: heads(harness, "finished"), 5, what="the sentence's end")


def span(harness: NodeHarness, request_id: str) -> tuple[int, int]:
    """Where ``request_id`` was heard, as positions in the playhead stream: its first
    ``playing`` and its ``finished``."""
    heard = [(i, m.state) for i, m in enumerate(harness.messages("audio/playhead"))
             if m.request_id == request_id]
    return (min(i for i, state in heard if state == "playing"),
            min(i for i, state in heard if state == "finished"))


def peak(output: Any) -> float:
    assert isinstance(output, WavOutput) and output.files
    heard = []
    for path in output.files:
        with wave.open(str(path), "rb") as wav:
            heard.append(decode_mono(wav.readframes(wav.getnframes()), "s16le", 1))
    return max(float(abs(samples).max()) for samples in heard)


class TestParameters:
    async def test_overlap_set_at_run_time_mixes_the_next_replies(self, tmp_path: Path) -> None:
        async with running(tmp_path) as harness:
            for request_id, persona in (("a1", "a"), ("b1", "b")):
                for chunk in tone_chunks(request_id, 0.3, persona=persona):
                    harness.feed("tts/audio", chunk)
            await wait_until(lambda: len(heads(harness, "finished")) == 2, 10,
                             what="both replies heard")
            answer = await harness.set_parameters(overlap=True)
            assert answer.successful, answer.reason
            # paused while both arrive, so both start in the same block, in phase
            harness.feed("audio/control", SpeakerControl(action="pause"))
            for request_id, persona in (("a2", "a"), ("b2", "b")):
                for chunk in tone_chunks(request_id, 0.3, persona=persona):
                    harness.feed("tts/audio", chunk)
            harness.feed("audio/control", SpeakerControl(action="resume"))
            await wait_until(lambda: len(heads(harness, "finished")) == 4, 10,
                             what="both replies heard again")
            output = harness.node.output
        assert span(harness, "a1")[1] < span(harness, "b1")[0]  # in turn before the set
        assert 0.55 < peak(output) < 0.65  # two 0.3 tones summed after it

    async def test_an_output_parameter_is_refused_at_run_time(self, tmp_path: Path) -> None:
        async with running(tmp_path) as harness:
            answer = await harness.set_parameters(sample_rate=44100)
            assert not answer.successful
            assert answer.reason.startswith("sample_rate is read at start: restart the node "
                                            "with -p sample_rate:=VALUE")
            assert harness.node.parameters.get("sample_rate") == 48000

    def test_the_launch_check_refuses_bad_values(self) -> None:
        assert declaration_of("nodes.speaker") is Params
        with pytest.raises(ParameterError, match=r"parameter 'sample_rate' expects int, got 0"):
            check_values(Params, {"sample_rate": 0}, node="speaker")
        with pytest.raises(ParameterError, match=r"parameter 'block_ms' expects float, got "
                                                 r"'abc'"):
            check_values(Params, {"block_ms": "abc"}, node="speaker")

    def test_output_errors_are_in_the_error_tree(self) -> None:
        assert issubclass(OutputError, VtError)
