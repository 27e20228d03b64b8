"""The local backends for real: Piper with the bundled voice, espeak-ng through its library;
StyleTTS2's refusals (it cannot run here: no GPU, no weights); the loader's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from bus.errors import PluginError
from nodes.tts.backends import BACKENDS, SynthChunk, TtsBackend, TtsBackendError
from nodes.tts.backends.espeak import EspeakVoiceOptions
from nodes.tts.backends.piper import WARMED_UP, PiperVoiceOptions
from nodes.tts.backends.styletts2 import INSTALL


async def synth(backend: TtsBackend, text: str, voice: Any) -> list[SynthChunk]:
    return [chunk async for chunk in backend.synthesize(text, voice)]


def joined(chunks: list[SynthChunk]) -> np.ndarray:
    return np.concatenate([c.pcm for c in chunks])


@pytest.fixture(scope="module")
def piper() -> TtsBackend:
    return BACKENDS.load("piper")


@pytest.fixture(scope="module")
def espeak() -> TtsBackend:
    return BACKENDS.load("espeak")


class TestPiper:
    async def test_speech_with_phoneme_timings(self, piper: TtsBackend) -> None:
        chunks = await synth(piper, "Hello there, friends.", PiperVoiceOptions())
        pcm = joined(chunks)
        assert chunks[0].sample_rate == 22050
        assert 0.6 < len(pcm) / 22050 < 3.0  # a short phrase, not silence or garbage
        assert np.abs(pcm).max() > 10000  # normalised speech, not silence
        spans = [s for c in chunks for s in c.phonemes]
        assert {"h", "l"} <= {s.phoneme for s in spans}
        assert spans[-1].end == len(pcm)  # the alignments cover the audio exactly

    async def test_length_scale_changes_the_pace(self, piper: TtsBackend) -> None:
        text = "The quick brown fox jumps over the lazy dog."
        normal = joined(await synth(piper, text, PiperVoiceOptions(length_scale=1.0)))
        fast = joined(await synth(piper, text, PiperVoiceOptions(length_scale=0.7)))
        assert len(fast) < 0.85 * len(normal)

    def test_a_voice_is_warmed_up_when_it_loads(self, piper: TtsBackend) -> None:
        # its first run took 1.2-1.5x a warm one: the show's first sentence paid for it
        assert WARMED_UP.count(piper.default_model) == 1  # type: ignore[attr-defined]

    async def test_missing_model(self) -> None:
        with pytest.raises(TtsBackendError, match=r"Piper model file /nonexistent\.onnx does not"):
            BACKENDS.load("piper", {"model_path": "/nonexistent.onnx",
                                   "config_path": "/nonexistent.onnx.json"})


class TestEspeak:
    async def test_streams_blocks_with_phoneme_events(self, espeak: TtsBackend) -> None:
        chunks = await synth(espeak, "Hello there, friends.", EspeakVoiceOptions(voice="en-us"))
        assert len(chunks) > 5  # streamed in small blocks, not at once
        assert chunks[0].sample_rate == 22050
        pcm = joined(chunks)
        assert np.abs(pcm).max() > 3000
        phonemes = [s.phoneme for c in chunks for s in c.phonemes]
        assert {"h", "l", "ð"} <= set(phonemes)  # IPA, like Piper's
        for chunk in chunks:  # every span lies inside its own chunk
            assert all(s.start >= 0 and s.end <= len(chunk.pcm) for s in chunk.phonemes)

    async def test_voices_differ(self, espeak: TtsBackend) -> None:
        low = joined(await synth(espeak, "Hello.", EspeakVoiceOptions(voice="en-us", pitch=20)))
        high = joined(await synth(espeak, "Hello.", EspeakVoiceOptions(voice="en-us+f3", pitch=80)))
        assert not np.array_equal(low[: min(len(low), len(high))], high[: min(len(low), len(high))])

    async def test_unknown_voice(self, espeak: TtsBackend) -> None:
        with pytest.raises(TtsBackendError, match="espeak-ng has no voice 'xx-nothing'"):
            await synth(espeak, "Hello.", EspeakVoiceOptions(voice="xx-nothing"))

    async def test_stops_when_closed_early(self, espeak: TtsBackend) -> None:
        stream: AsyncIterator[SynthChunk] = espeak.synthesize(
            "This is a long text that would take many blocks to say. " * 5,
            EspeakVoiceOptions(voice="en-us"))
        first = await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        assert len(first.pcm) > 0
        after = await synth(espeak, "Again.", EspeakVoiceOptions(voice="en-us"))
        assert len(joined(after)) > 0  # the library is free again


class TestStyleTTS2:
    """Cannot run here (no GPU, no weights, package not installable in this lock): its
    refusals are what can be checked."""

    def test_missing_weights(self) -> None:
        with pytest.raises(TtsBackendError, match="styletts2 checkpoint_path '' is not a file"):
            BACKENDS.load("styletts2")

    def test_missing_package_names_the_install(self, tmp_path: pytest.TempPathFactory) -> None:
        checkpoint = tmp_path / "epochs_2nd_00020.pth"  # type: ignore[operator]
        config = tmp_path / "config.yml"  # type: ignore[operator]
        checkpoint.write_bytes(b"")
        config.write_text("model_params: {}\n")
        with pytest.raises(TtsBackendError) as caught:
            BACKENDS.load("styletts2", {"checkpoint_path": str(checkpoint),
                                       "config_path": str(config)})
        assert str(caught.value) == INSTALL
        assert "own environment" in INSTALL


class TestLoader:
    def test_unknown_backend(self) -> None:
        with pytest.raises(PluginError, match="unknown TTS backend 'nope'; known: piper, espeak"):
            BACKENDS.load("nope")

    def test_bad_settings(self) -> None:
        with pytest.raises(PluginError, match="espeak' settings: Object contains unknown field"):
            BACKENDS.load("espeak", {"colour": "blue"})


async def test_the_tone_lasts_as_long_as_the_text_and_repeats_without_a_click() -> None:
    tone = BACKENDS.load("tone")
    text = "x" * 45  # 3 s at 15 characters a second: the made second repeats twice
    (chunk,) = await synth(tone, text, BACKENDS.settings("tone", attr="Voice"))
    assert len(chunk.pcm) == 3 * chunk.sample_rate
    steps = np.abs(np.diff(chunk.pcm.astype(np.int32)))
    seam = chunk.sample_rate - 1  # from the last sample of one second to the next one's first
    assert steps[seam] <= steps[:seam].max()  # no bigger than within a second: no click
