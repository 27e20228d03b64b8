"""The TTS node as a real process: backends that fail are reported on ``system/log`` and
their personas speak with the fallback; the node keeps serving."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers.ports import closed_port_url

from bus.testing import NodeProcess, Probe
from messages.audio import AudioChunk
from messages.llm import Sentence
from messages.system import LogEvent
from nodes.tts.voices import MIKA_PITCH

pytestmark = pytest.mark.slow


async def each_says(bus_url: str, personas: tuple[str, ...], timeout: float = 30.0
                    ) -> tuple[list[AudioChunk], list[LogEvent]]:
    """Each persona says a sentence (request id: the persona) to the tts node on the bus,
    which is waited for; what the node sent, and what it logged."""
    async with Probe(bus_url) as probe:
        chunks = probe.collect("tts/audio")
        probe.collect("system/log")
        await probe.wait_for_subscribers("llm/sentence")
        for persona in personas:
            probe.publish("llm/sentence", Sentence(request_id=persona, persona=persona, index=0,
                                                   text="Can you hear me?", final=True))
        await probe.wait_for("tts/audio", len(personas), timeout, where=lambda m: m.final)
        return [m for _, m in chunks], probe.messages("system/log")


async def test_failing_backends_fall_back(bus_url: str,
                                          start_node: Callable[..., NodeProcess]) -> None:
    url = closed_port_url()
    tts = start_node("nodes.tts", params={
        "backends": {"fish": {"kind": "fish_speech", "url": url}},
        "voices": {"a": {"backend": "piper", "voice": "/models/missing.onnx"},
                   "b": {"backend": "fish", "reference_audio": "/refs/b.wav"}},
    })
    chunks, logs = await each_says(bus_url, ("a", "b"))
    for persona in ("a", "b"):
        audio = sum(len(m.pcm) for m in chunks if m.request_id == persona)
        assert audio > 22050, f"persona {persona} was not spoken"
    errors = [e.message for e in logs]
    assert any(e.startswith("persona a: TTS backend piper is unavailable") and
               "Piper model file /models/missing.onnx does not exist" in e and
               e.endswith("speaking with espeak") for e in errors), errors
    assert any(e.startswith("persona b: TTS backend fish is unavailable") and
               f"Fish Speech server at {url} is not answering" in e for e in errors), errors
    assert tts.proc is not None and tts.proc.poll() is None  # still running


async def test_mika_speaks_with_rook_s_voice_raised_where_kokoro_is_too_slow(
        bus_url: str, start_node: Callable[..., NodeProcess]) -> None:
    # a max_rtf no machine meets: the default cast's Mika is given Piper, not the fallback
    start_node("nodes.tts", params={"backends": {"kokoro": {"max_rtf": 0.001}}})
    chunks, logs = await each_says(bus_url, ("mika", "rook"), timeout=60)
    rates = {m.persona: m.sample_rate for m in chunks if m.pcm}
    assert rates == {"rook": 22050, "mika": round(22050 * MIKA_PITCH)}
    (warning,) = [e for e in logs if "kokoro" in e.message]
    assert warning.level == "warning"
    assert warning.message.startswith("TTS backend kokoro not used: kokoro renders at")
    assert warning.message.endswith("mika speak(s) with piper instead")
