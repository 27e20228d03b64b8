"""Any OpenAI-compatible streaming server: vLLM in production, llama.cpp's server, xllamacpp.

vLLM serves every LoRA adapter under its own model name (``vllm serve BASE --enable-lora
--lora-modules mika=/path/mika rook=/path/rook``), so a persona picks its adapter per request
by naming it as the model: switching personas costs no reload.

Stopping early closes the HTTP stream; vLLM and llama.cpp abort the request when the client
disconnects, so the GPU stops working on it too.

A model that can see (``vision``: vLLM serving a vision model) gets a request's images with
the last user turn, as OpenAI's content parts: the text, then each picture as an
``image_url`` holding a ``data:`` URI. Without ``vision`` they are left out: a text-only
model's server refuses image parts (llama.cpp: "image input is not supported").
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import msgspec

from messages.llm import Image
from nodes.llm.backends.base import (
    IMAGE_MEDIA_TYPES,
    Generation,
    HttpTokenizer,
    LlmBackendError,
    OnDelta,
    Outcome,
    Usage,
    read_chunk,
    request_body,
)

__all__ = ["OpenAICompatBackend", "OpenAICompatSettings", "with_images"]


class OpenAICompatSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the server is and how to talk to it."""

    base_url: str = "http://127.0.0.1:8000"
    """Without ``/v1``."""
    model: str = ""
    """The base model's served name; empty: the first model ``/v1/models`` lists."""
    api_key_env: str = ""
    """Name of the environment variable holding the API key (``vllm serve --api-key``);
    empty: no key. The key itself is never logged or published."""
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    """Longest silence between two streamed pieces before the request fails."""
    vision: bool = False
    """The served model can see: a request's images go with its last user turn."""


class OpenAICompatBackend:
    """Streams chat completions over HTTP (sync httpx, run in a worker thread)."""

    Settings: ClassVar[type[OpenAICompatSettings]] = OpenAICompatSettings
    name = "openai"
    tools_in_prompt: ClassVar[bool] = False
    """vLLM parses tool calls itself (``--tool-call-parser``) and streams them as such."""

    def __init__(self, settings: OpenAICompatSettings, *, personas: Sequence[str] = ()):
        self.settings = settings
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
        headers = {}
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise LlmBackendError(
                    f"the LLM server needs an API key: set the environment variable "
                    f"{settings.api_key_env} (parameter api_key_env)"
                )
            headers["Authorization"] = f"Bearer {key}"
        self.model = settings.model
        self._client = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
        )
        self._tokenizer = HttpTokenizer(self._client, lambda: self.model)

    def wait_ready(self, timeout: float) -> None:
        """Poll ``/v1/models`` until it answers (a starting vLLM takes minutes to load)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            try:
                response = self._client.get("/v1/models", timeout=2.0)
                if response.status_code == 200:
                    models = [m.get("id", "") for m in response.json().get("data", [])]
                    if not self.model and models:
                        self.model = models[0]
                    return
                last = f"HTTP {response.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise LlmBackendError(
                    f"the LLM server at {self.settings.base_url} did not answer /v1/models "
                    f"within {timeout:.0f} s (last: {last}); is it running (see "
                    f"launch/llm_vllm.launch.toml), and is base_url right?"
                )
            time.sleep(0.5)

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        body = request_body(generation, self.model)
        if self.settings.vision and generation.images:
            body["messages"] = with_images(body["messages"], generation.images)
        finish: str | None = None
        tokens = 0
        usage: Usage | None = None
        done = False
        try:
            with self._client.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise LlmBackendError(
                        f"the LLM server answered HTTP {response.status_code} for model "
                        f"{body['model']!r}: {response.text[:300]}"
                    )
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    delta, reason, reported = read_chunk(_json(data))
                    finish = reason or finish
                    usage = reported or usage
                    if delta is not None:
                        tokens += 1
                        if on_delta(delta):
                            return Outcome("stopped", tokens)
        except httpx.HTTPError as exc:
            raise LlmBackendError(
                f"the LLM stream from {self.settings.base_url} broke after {tokens} "
                f"token(s): {type(exc).__name__}: {exc or 'connection lost'}"
            ) from None
        if not done and finish is None:
            raise LlmBackendError(
                f"the LLM stream from {self.settings.base_url} ended after {tokens} token(s) "
                "without finishing: the server closed the connection"
            )
        return Outcome.of(finish, tokens, usage)

    def count_tokens(self, text: str) -> int | None:
        return self._tokenizer.count(text)

    def close(self) -> None:
        self._client.close()


def with_images(messages: list[dict[str, str]], images: list[Image]) -> list[dict[str, Any]]:
    """``messages`` with ``images`` shown in the last user turn: its content becomes parts, the
    text first, then an ``image_url`` part per picture (a ``data:`` URI); with no user turn,
    one is added holding the pictures. Pictures of an encoding other than jpeg or png are
    left out (the llm node refuses them before)."""
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {
            "url": f"data:{IMAGE_MEDIA_TYPES[image.encoding]};base64,"
                   f"{base64.b64encode(image.data).decode('ascii')}"}}
        for image in images if image.encoding in IMAGE_MEDIA_TYPES]
    shown: list[dict[str, Any]] = list(messages)
    users = [index for index, message in enumerate(shown) if message["role"] == "user"]
    if not users:
        return [*shown, {"role": "user", "content": parts}]
    last = shown[users[-1]]
    shown[users[-1]] = {**last, "content": [{"type": "text", "text": last["content"]}, *parts]}
    return shown


def _json(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise LlmBackendError(f"the LLM server sent a chunk that is not JSON: {data[:120]!r}") from exc
    if not isinstance(value, dict):
        raise LlmBackendError(f"the LLM server sent a chunk that is not an object: {data[:120]!r}")
    return value
