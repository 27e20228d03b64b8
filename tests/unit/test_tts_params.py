"""The TTS node's parameters: every one live through ``tts/set_parameters`` (read where used,
or the voice book rebuilt and changed backends reloaded), bad values refused before anything
changes, and refused by the launch check too."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.errors import ParameterError
from bus.node import NodeOptions
from bus.params import check_values, declaration_of
from bus.testing import NodeHarness, wait_until
from messages.audio import AudioChunk
from messages.llm import Sentence
from nodes.tts.node import TtsNode
from nodes.tts.params import Params

TONE_RATE = 22050  # the tone backend's default sample_rate


@contextlib.asynccontextmanager
async def running(**parameters: Any) -> AsyncIterator[NodeHarness]:
    """A TTS node on the zero-time tone, no fallback, its callbacks driven by a harness."""
    node = TtsNode(options=NodeOptions(bus="ipc:///tmp/vt-tts-params", parameters={
        "default_backend": "tone", "fallback": "", **parameters}))
    harness = NodeHarness(node)
    await node.start()
    try:
        yield harness
    finally:
        await node.close()


async def spoken(harness: NodeHarness, request_id: str, persona: str = "a") -> list[AudioChunk]:
    """Say one sentence as ``persona`` and wait for all of its chunks."""
    harness.feed("llm/sentence", Sentence(request_id=request_id, persona=persona, index=0,
                                          text="Hello there, how are you?", final=True))
    await wait_until(lambda: any(c.final for c in harness.messages("tts/audio")
                                 if c.request_id == request_id), 30, what=f"{request_id} spoken")
    return [c for c in harness.messages("tts/audio") if c.request_id == request_id and c.pcm]


class TestLive:
    async def test_chunk_ms_is_read_at_use(self) -> None:
        async with running() as harness:
            before = await spoken(harness, "r1")
            assert (await harness.set_parameters(chunk_ms=100)).successful
            after = await spoken(harness, "r2")
        assert len(before[0].pcm) == 2 * int(TONE_RATE * 0.040)
        assert len(after[0].pcm) == 2 * int(TONE_RATE * 0.100)

    async def test_new_backend_settings_load_it_anew(self) -> None:
        async with running() as harness:
            before = await spoken(harness, "r1")
            answer = await harness.set_parameters(backends={"tone": {"sample_rate": 16000}})
            assert answer.successful, answer.reason
            after = await spoken(harness, "r2")
        assert {c.sample_rate for c in before} == {TONE_RATE}
        assert {c.sample_rate for c in after} == {16000}

    async def test_voices_and_default_backend_move_personas(self) -> None:
        async with running() as harness:
            on_tone = await spoken(harness, "r1", persona="a")
            assert (await harness.set_parameters(voices={"a": {"backend": "espeak",
                                                                 "pitch": 70}})).successful
            on_espeak = await spoken(harness, "r2", persona="a")
            assert (await harness.set_parameters(default_backend="espeak")).successful
            b_on_espeak = await spoken(harness, "r3", persona="b")
        assert not any(c.phonemes for c in on_tone)  # the tone has none, espeak-ng has
        assert any(c.phonemes for c in on_espeak) and any(c.phonemes for c in b_on_espeak)

    @pytest.mark.parametrize(("values", "reason"), [
        # a field the persona's backend does not have: persona, backend and field named
        ({"voices": {"a": {"backend": "tone", "pitch": 3}}},
         "voices.a: Object contains unknown field `pitch` (persona a speaks with TTS backend "
         "'tone'"),
        ({"backends": {"tone": {"rate": 8000}}},
         "backends.tone: TTS backend 'tone' settings: Object contains unknown field `rate`"),
        ({"fallback": "espeek"}, "fallback 'espeek': unknown TTS backend 'espeek'"),
        ({"chunk_ms": 0}, "parameter 'chunk_ms' expects float"),
    ])
    async def test_a_bad_set_is_refused_and_changes_nothing(self, values: dict[str, Any],
                                                           reason: str) -> None:
        async with running() as harness:
            node = harness.node
            assert isinstance(node, TtsNode)
            answer = await harness.set_parameters(**values)
            assert not answer.successful and reason in answer.reason, answer.reason
            assert node.params == Params(default_backend="tone", fallback="")
            assert {c.sample_rate for c in await spoken(harness, "r")} == {TONE_RATE}


class TestLaunchCheck:
    def test_the_launch_check_finds_the_declaration(self) -> None:
        assert declaration_of("nodes.tts") is Params

    @pytest.mark.parametrize(("values", "message"), [
        ({"chunk_ms": "abc"}, r"parameter 'chunk_ms' expects float, got 'abc'"),
        ({"max_chars": 0}, r"parameter 'max_chars' expects int, got 0 \(Expected `int` >= 1"),
        ({"default_backend": ""}, r"parameter 'default_backend' expects str"),
        ({"voices": {"a": "espeak"}}, r"parameter 'voices' expects dict\[str, dict\[str, Any\]\]"),
        ({"fallbak": "espeak"}, r"node tts has no parameter 'fallbak' \(did you mean fallback"),
    ])
    def test_bad_values_are_refused(self, values: dict[str, Any], message: str) -> None:
        with pytest.raises(ParameterError, match=message):
            check_values(Params, values, node="tts")
