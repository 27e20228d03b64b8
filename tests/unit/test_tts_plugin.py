"""A TTS backend is one file plus one registry line: a tiny one, declared here and registered
by one line, is spoken with by the node, its persona options checked by its own ``Voice``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import numpy as np
import pytest

from bus.errors import ParameterError
from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.llm import Sentence
from nodes.tts.backends import BACKENDS, SynthChunk
from nodes.tts.node import TtsNode

# ---------------------------------------------------------------- the whole backend


class BeepSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    sample_rate: int = 8000


class BeepVoice(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    hz: float = 440.0
    """The persona's beep."""


class BeepBackend:
    """A beep per character, at the persona's pitch."""

    name = "beep"
    Settings = BeepSettings
    Voice = BeepVoice

    def __init__(self, settings: BeepSettings):
        self.settings = settings

    async def synthesize(self, text: str, voice: BeepVoice) -> AsyncIterator[SynthChunk]:
        rate = self.settings.sample_rate
        t = np.arange(len(text) * rate // 20) / rate
        yield SynthChunk((0.3 * np.sin(2 * np.pi * voice.hz * t) * 32767).astype(np.int16), rate)

    async def aclose(self) -> None:
        """Nothing to release."""


# ---------------------------------------------------------------- its registry line


@pytest.fixture(autouse=True)
def beep_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BACKENDS.entries, "beep", f"{__name__}:BeepBackend")


def loudest_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, np.int16).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


async def test_the_node_speaks_with_it() -> None:
    node = TtsNode(options=NodeOptions(bus="ipc:///tmp/vt-tts-plugin", parameters={
        "voices": {"a": {"backend": "beep", "hz": 880}, "b": {"backend": "loud"}},
        "backends": {"loud": {"kind": "beep", "sample_rate": 16000}}, "fallback": ""}))
    harness = NodeHarness(node)
    await node.start()
    try:
        for persona in ("a", "b"):
            harness.feed("llm/sentence", Sentence(request_id=persona, persona=persona, index=0,
                                                  text="Beep beep.", final=True))
        await wait_until(lambda: sum(c.final for c in harness.messages("tts/audio")) == 2, 10,
                         what="both spoken")
    finally:
        await node.close()
    for persona, rate, hz in (("a", 8000, 880), ("b", 16000, 440)):
        chunks = [c for c in harness.messages("tts/audio") if c.request_id == persona]
        assert {c.sample_rate for c in chunks} == {rate}
        assert abs(loudest_hz(b"".join(c.pcm for c in chunks), rate) - hz) < 5


def test_a_field_it_does_not_have_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"voices\.a: Object contains unknown field "
                                             r"`length_scale` \(persona a speaks with TTS "
                                             r"backend 'beep', whose voice fields are: hz;"):
        TtsNode(options=NodeOptions(bus="ipc:///tmp/vt-tts-plugin", parameters={
            "voices": {"a": {"backend": "beep", "length_scale": 0.8}}}))
