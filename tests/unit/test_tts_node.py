"""The TTS node's callbacks on given messages, with real synthesis (no bus needed)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers.ports import closed_port_url

from bus.errors import ParameterError
from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.audio import AudioChunk
from messages.llm import Cancel, Sentence
from messages.pcm import frame_count
from nodes.tts.node import TtsNode

LONG = ("Well, I have been thinking about this for quite a while now, and honestly the answer "
        "is not simple at all; it depends on what you mean by fun, who you ask, and when.")


@contextlib.asynccontextmanager
async def running(**parameters: Any) -> AsyncIterator[tuple[TtsNode, NodeHarness]]:
    """A TTS node with these parameters, started and driven by a harness (no sockets)."""
    async with NodeHarness(TtsNode, parameters=parameters) as harness:
        assert isinstance(harness.node, TtsNode)
        yield harness.node, harness


@pytest.fixture
async def tts() -> AsyncIterator[tuple[TtsNode, NodeHarness]]:
    async with running() as pair:
        yield pair


def chunks(harness: NodeHarness, request_id: str | None = None) -> list[AudioChunk]:
    return [c for c in harness.messages("tts/audio")
            if request_id is None or c.request_id == request_id]


async def finished(harness: NodeHarness, request_id: str, timeout: float = 30) -> None:
    await wait_until(lambda: any(c.final for c in chunks(harness, request_id)), timeout,
                     what=f"the final chunk of {request_id}")


def piece_starts(out: list[AudioChunk]) -> list[int]:
    """Where each piece Piper rendered starts (its "^" phoneme), in samples of the sentence;
    a "^" clipped into two chunks counts once."""
    starts: list[int] = []
    offset, end = 0, -1
    for chunk in out:
        for p in chunk.phonemes:
            if p.phoneme == "^":
                if offset + p.start_sample != end:
                    starts.append(offset + p.start_sample)
                end = offset + p.start_sample + p.samples
        offset += frame_count(chunk.pcm, chunk.format, chunk.channels)
    return starts


class TestStreaming:
    async def test_sentences_in_order_in_small_chunks(self, tts: tuple[TtsNode, NodeHarness]
                                                      ) -> None:
        node, harness = tts
        sent = harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=0,
                                                     text="Hello there.", emotion="happy"))
        sent_too = harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=1,
                                                         text="How are you?", final=True))
        await finished(harness, "r")
        out = chunks(harness, "r")
        assert [(c.sentence_index, c.chunk_index) for c in out] == sorted(
            (c.sentence_index, c.chunk_index) for c in out)
        by_sentence = {i: [c for c in out if c.sentence_index == i] for i in (0, 1)}
        for index, sentence in by_sentence.items():
            assert [c.chunk_index for c in sentence] == list(range(len(sentence)))
            assert [c.last for c in sentence] == [False] * (len(sentence) - 1) + [True]
            assert sentence[-1].final == (index == 1)
            assert sum(len(c.pcm) for c in sentence) > 0.5 * 22050 * 2  # real speech
        assert all(len(c.pcm) <= 2 * int(22050 * node.params.chunk_ms / 1000) for c in out)
        first = by_sentence[0][0]
        assert (first.text, first.emotion, first.persona) == ("Hello there.", "happy", "a")
        for chunk in out:  # phoneme timings lie inside their own chunk
            frames = frame_count(chunk.pcm, chunk.format, chunk.channels)
            assert all(p.start_sample + p.samples <= frames for p in chunk.phonemes)
        traces = {(m.sentence_index, h.trace_id) for t, h, m in harness.published
                  if isinstance(m, AudioChunk)}
        assert traces == {(0, sent.trace_id), (1, sent_too.trace_id)}  # chains stay traceable

    async def test_a_replys_first_piece_is_short_by_default(
            self, tts: tuple[TtsNode, NodeHarness]) -> None:
        # issue 19: its synthesis is the time to first audio (a 40-character first piece was
        # ~1.2x a 25-character one here); 33 characters are now spoken in two pieces
        _, harness = tts
        harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=0,
                                              text="Welcome back, chat, it is so good.",
                                              final=True))
        await finished(harness, "r")
        assert len(piece_starts(chunks(harness, "r"))) == 2

    async def test_long_sentence_is_split(self) -> None:
        async with running(max_chars=60, first_max_chars=30) as (_, harness):
            harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=0,
                                                  text=LONG, final=True))
            await finished(harness, "r")
            # Piper starts every piece it renders with the "^" (start) phoneme
            starts = [p for c in chunks(harness) for p in c.phonemes if p.phoneme == "^"]
            assert len(starts) >= 3

    async def test_empty_final_sentence_closes_the_request(
            self, tts: tuple[TtsNode, NodeHarness]) -> None:
        _, harness = tts
        harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=0, text="",
                                              final=True))
        await finished(harness, "r")
        (chunk,) = chunks(harness, "r")
        assert chunk.pcm == b"" and chunk.last and chunk.final

    async def test_personas_sound_different(self, tts: tuple[TtsNode, NodeHarness]) -> None:
        _, harness = tts
        for persona in ("a", "b"):
            harness.feed("llm/sentence", Sentence(request_id=persona, persona=persona, index=0,
                                                  text=LONG[:80], final=True))
        await finished(harness, "b")
        lengths = {p: sum(len(c.pcm) for c in chunks(harness, p)) for p in ("a", "b")}
        assert lengths["b"] < 0.95 * lengths["a"]  # the second preset speaks faster

    async def test_negative_index_is_dropped_and_counted(
            self, tts: tuple[TtsNode, NodeHarness]) -> None:
        node, harness = tts
        harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=-1, text="x"))
        assert node.counters["bad_input"] == 1
        assert chunks(harness) == []


class TestCancel:
    async def test_cancel_mid_sentence_drops_the_rest(self) -> None:
        async with running(max_chars=40, first_max_chars=20) as (node, harness):
            harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=0,
                                                  text=LONG))
            harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=1,
                                                  text="This is never said.", final=True))
            await wait_until(lambda: chunks(harness, "r"), 30,
                             what="the first chunk")
            harness.feed("llm/cancel", Cancel(request_id="r", reason="barge-in"))
            count = len(chunks(harness, "r"))
            harness.feed("llm/sentence", Sentence(request_id="next", persona="a", index=0,
                                                  text="Next one.", final=True))
            await finished(harness, "next")
            after = chunks(harness, "r")
            assert len(after) == count  # nothing more of it once the cancel was handled
            assert not any(c.last for c in after)
            assert {c.sentence_index for c in after} == {0}
            assert node.counters["cancelled_mid_sentence"] == 1

    async def test_tts_cancel_for_queued_request(self, tts: tuple[TtsNode, NodeHarness]
                                                 ) -> None:
        node, harness = tts
        harness.feed("llm/sentence", Sentence(request_id="a", persona="a", index=0,
                                              text="First reply.", final=True))
        harness.feed("llm/sentence", Sentence(request_id="b", persona="b", index=0,
                                              text="Second reply.", final=True))
        harness.feed("tts/cancel", Cancel(request_id="b"))
        harness.feed("llm/sentence", Sentence(request_id="b", persona="b", index=1,
                                              text="Late.", final=True))
        await finished(harness, "a")
        await harness.settle()
        assert chunks(harness, "b") == []
        assert node.counters["dropped_cancelled"] == 1


class TestFallback:
    async def test_backend_down_speaks_with_espeak_and_says_why(self) -> None:
        url = closed_port_url()
        async with running(backends={"fish": {"kind": "fish_speech", "url": url}},
                           voices={"b": {"backend": "fish", "fallback_voice": "en-us+f3"}}
                           ) as (_, harness):
            harness.feed("llm/sentence", Sentence(request_id="r", persona="b", index=0,
                                                  text="Hello there.", final=True))
            await finished(harness, "r")
            out = chunks(harness, "r")
            assert sum(len(c.pcm) for c in out) > 22050  # spoken all the same
            phonemes = {p.phoneme for c in out for p in c.phonemes}
            assert "^" not in phonemes and "h" in phonemes  # espeak's, not Piper's
            errors = [e.message for e in harness.messages("system/log") if e.level == "error"]
            assert any(f"TTS backend fish failed to load: Fish Speech server at {url} is not "
                       "answering" in e and "speak with espeak" in e for e in errors)
            assert any(e.startswith("persona b: TTS backend fish is unavailable") for e in errors)

    async def test_no_fallback_configured(self) -> None:
        async with running(fallback="", voices={"a": {"backend": "styletts2"}}
                           ) as (node, harness):
            harness.feed("llm/sentence", Sentence(request_id="r", persona="a", index=0,
                                                  text="Hello.", final=True))
            await finished(harness, "r")
            (closing,) = chunks(harness, "r")  # the request still ends, without audio
            assert closing.pcm == b"" and closing.final
            assert node.counters["unspoken_pieces"] == 1
            errors = [e.message for e in harness.messages("system/log")]
            assert any("TTS backend styletts2 failed to load: styletts2 checkpoint_path" in e
                       for e in errors)

    def test_bad_voices_parameter(self) -> None:
        with pytest.raises(ParameterError, match=r"voices\.a: Expected `float`, got `str` - at "
                                             r"`\$\.length_scale`"):
            TtsNode(options=NodeOptions(bus="ipc:///tmp/vt-tts-unit",
                                        parameters={"voices": {"a": {"length_scale": "fast"}}}))
