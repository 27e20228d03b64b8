"""Pictures in a request (watch mode's screen grab): the ``openai`` backend with ``vision`` on
sends them to the server as OpenAI content parts, an ``image_url`` with a ``data:`` URI each,
in the last user turn; without ``vision``, and in the embedded llama.cpp (the bundled model is
text-only), they are left out. The server is the loopback stand-in for vLLM
(tests/integration/llm_servers.py), since vLLM serving a vision model needs a GPU."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from integration.llm_servers import FakeVllm

from bus.testing import NodeHarness, wait_until
from messages.llm import ChatTurn, Image, LlmDone, LlmRequest
from nodes.llm.backends.base import Delta, Generation, request_body
from nodes.llm.backends.llamacpp import LlamaCppBackend, LlamaCppSettings
from nodes.llm.backends.openai_compat import (
    OpenAICompatBackend,
    OpenAICompatSettings,
    with_images,
)
from nodes.llm.node import LlmNode

JPEG = b"\xff\xd8\xff\xe0 a screen grab \xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n a second one"
SCREEN = [Image(data=JPEG, encoding="jpeg"), Image(data=PNG, encoding="png")]
ASKED = Generation(messages=[{"role": "system", "content": "You are Mika."},
                             {"role": "user", "content": "ann: what do you see?"},
                             {"role": "assistant", "content": "Hmm."},
                             {"role": "user", "content": "(On the screen now: a red menu.)"}],
                   max_tokens=8, images=SCREEN)


def data_uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
async def vllm() -> AsyncIterator[FakeVllm]:
    fake = await FakeVllm(["vision-model"]).start()
    fake.script = [({"content": "A red menu!"}, None), ({}, "stop")]
    yield fake
    await fake.stop()


async def sent(vllm: FakeVllm, **settings: Any) -> list[dict[str, Any]]:
    """The messages the server received for `ASKED`, through a backend with ``settings``."""
    backend = OpenAICompatBackend(OpenAICompatSettings(base_url=vllm.url, **settings))
    try:
        await asyncio.to_thread(backend.wait_ready, 10)
        outcome = await asyncio.to_thread(backend.generate, ASKED, lambda _: False)
    finally:
        backend.close()
    assert outcome.finish_reason == "stop"
    (body,) = vllm.requests
    return body["messages"]  # type: ignore[no-any-return]


class TestOpenAiBackend:
    async def test_vision_sends_each_picture_in_the_last_user_turn(self, vllm: FakeVllm) -> None:
        messages = await sent(vllm, vision=True)
        assert messages[:3] == ASKED.messages[:3], "only the last user turn changes"
        assert messages[3] == {"role": "user", "content": [
            {"type": "text", "text": "(On the screen now: a red menu.)"},
            {"type": "image_url", "image_url": {"url": data_uri("image/jpeg", JPEG)}},
            {"type": "image_url", "image_url": {"url": data_uri("image/png", PNG)}},
        ]}

    async def test_without_vision_no_picture_is_sent(self, vllm: FakeVllm) -> None:
        messages = await sent(vllm)
        assert messages == ASKED.messages
        assert all(isinstance(m["content"], str) for m in messages)


def test_with_no_user_turn_the_pictures_come_in_one() -> None:
    system = [{"role": "system", "content": "You are Rook."}]
    assert with_images(system, SCREEN[:1]) == [*system, {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": data_uri("image/jpeg", JPEG)}}]}]


class TestTheLlmNode:
    """The node hands a request's pictures to its backend; one of an encoding no backend
    takes is left out and reported, and the reply goes on."""

    @staticmethod
    def asking(*images: Image) -> LlmRequest:
        return LlmRequest(request_id="r1", persona="mika", images=list(images),
                          messages=[ChatTurn(role="user", name="ann", content="what is that?")])

    @staticmethod
    async def answered(harness: NodeHarness) -> LlmDone:
        found = await wait_until(lambda: harness.messages("llm/done"), 20, what="llm/done")
        return found[0]  # type: ignore[no-any-return]

    async def test_the_pictures_reach_the_server(self, vllm: FakeVllm) -> None:
        parameters = {"backend": "openai", "base_url": vllm.url, "vision": True,
                      "warm_up": False}
        async with NodeHarness(LlmNode, parameters=parameters) as harness:
            harness.feed("llm/request", self.asking(Image(data=JPEG, encoding="jpeg"),
                                                    Image(data=b"GIF89a", encoding="gif")))
            done = await self.answered(harness)
            assert (done.error, done.text) == ("", "A red menu!")
            assert harness.node.counters["bad_input"] == 1, "the gif is reported"
        (body,) = [b for b in vllm.requests if b["max_tokens"] > 1]
        *_, text, picture = body["messages"][-1]["content"]
        assert text["type"] == "text" and "what is that?" in text["text"]
        assert picture == {"type": "image_url", "image_url": {"url": data_uri("image/jpeg", JPEG)}}


@pytest.mark.slow
def test_the_embedded_model_leaves_the_pictures_out() -> None:
    """llama.cpp without a vision projector refuses image parts: a request with pictures
    still gets its reply from the bundled model."""
    backend = LlamaCppBackend(LlamaCppSettings(threads=1, slots=1, context=512))
    try:
        pieces: list[str] = []

        def keep(delta: Delta) -> bool:
            pieces.append(delta.text)
            return False

        outcome = backend.generate(ASKED, keep)
        assert outcome.tokens > 0 and "".join(pieces).strip()
        # the control: the same request with the pictures in it, to the same llama.cpp over
        # its own OpenAI-compatible HTTP server, is refused
        body = request_body(ASKED, "bundled")
        body["messages"] = with_images(body["messages"], ASKED.images)
        refused = httpx.post(f"{backend.listening_address}/v1/chat/completions", json=body,
                             timeout=60)
        assert refused.status_code >= 400 and "image input is not supported" in refused.text
    finally:
        backend.close()
