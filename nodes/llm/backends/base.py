"""The one Protocol every LLM backend implements, and the OpenAI chunk format they share.

A backend is a plug-in (`bus.plugins`): one file with a class that has a ``Settings`` Struct
and is built from an instance of it, plus its line in `nodes.llm.backends.BACKENDS`.

The model backends speak OpenAI chat completions: vLLM and llama.cpp servers over HTTP, and
xllamacpp in process, whose streaming callback receives the same chunk dictionaries. So the
request body and the reading of a chunk live here, once.

A backend's `Backend.generate` is blocking and runs in a worker thread: it calls ``on_delta``
for every streamed piece, in order, and stops at once (the next token at the latest) when
``on_delta`` returns True. Failures raise `LlmBackendError` with a message that says what to do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import httpx
import msgspec

from bus.errors import PluginError
from messages.llm import Image
from nodes.llm.personas import Sampling

__all__ = ["IMAGE_MEDIA_TYPES", "Backend", "Delta", "Generation", "HttpTokenizer",
           "LlmBackendError", "Outcome", "Usage", "context_overflow", "read_chunk",
           "request_body"]

IMAGE_MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}
"""The picture encodings a request may carry (`messages.llm.Image`), and their media types."""


class LlmBackendError(PluginError):
    """An LLM backend cannot load, the model server failed, or it answered something that
    is not a chat completion stream."""


@dataclass(frozen=True)
class Generation:
    """One request to a backend."""

    messages: list[dict[str, str]]
    sampling: Sampling = field(default_factory=Sampling)
    max_tokens: int = 200
    model: str = ""
    """The persona's LoRA adapter: vLLM's served model name (a LoRA's name picks it); the
    embedded backend's adapter of that name (its ``lora_dir``). Empty: the base model."""
    persona: str = ""
    """Who speaks: the embedded backend keeps one KV-cache slot per persona."""
    stop: list[str] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    """OpenAI tool schemas: ``{"type": "function", "function": {name, description, ...}}``."""
    prompt_tokens: int = 0
    """The prompt's length as the node counted it (0: not counted)."""
    response_schema: dict[str, Any] | None = None
    """A JSON schema the reply must match, decoded under it (llama.cpp's and vLLM's
    ``response_format``); None: free text."""
    images: list[Image] = field(default_factory=list)
    """Pictures shown with the last user turn (a screen grab in watch mode): a backend whose
    model can see sends them (``openai`` with ``vision``), the others leave them out (the
    prompt describes what they show)."""


@dataclass(frozen=True)
class Delta:
    """A streamed piece: text, tool-call fragments, or both."""

    text: str = ""
    tool_calls: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Usage:
    """What the server reports at the end of a stream (absent when we stopped it early)."""

    completion_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    """Prompt tokens reused from the KV cache (llama.cpp ``cache_n``, vLLM ``cached_tokens``)."""


@dataclass(frozen=True)
class Outcome:
    """How a generation ended: ``stop``, ``length``, ``tool_calls`` or ``stopped`` (by us)."""

    finish_reason: str
    tokens: int
    cached_prompt_tokens: int | None = None

    @classmethod
    def of(cls, finish_reason: str | None, counted: int, usage: Usage | None) -> Outcome:
        """The outcome from the pieces counted and the usage reported, if any."""
        usage = usage or Usage()
        return cls(finish_reason or "stop", usage.completion_tokens or counted,
                   usage.cached_prompt_tokens)


OnDelta = Callable[[Delta], bool]
"""Called for each piece; returning True stops the generation now."""


class Backend(Protocol):
    """An LLM that streams chat completions.

    Built as ``Kind(settings, personas=names)``: ``settings`` an instance of its
    ``Settings``, ``personas`` the names of the personas the node serves (a backend may keep
    state per persona: llama.cpp pins a KV-cache slot to each). The model is loaded, or the
    connection made, there.
    """

    Settings: ClassVar[type[msgspec.Struct]]
    """Its settings: a frozen Struct that refuses unknown fields."""
    name: str
    tools_in_prompt: ClassVar[bool]
    """Whether tools are described in the system prompt by default (its models have no
    tool-call format the server parses), unless the node's ``tools_in_prompt`` says."""

    def wait_ready(self, timeout: float) -> None:
        """Block until the model answers; raise `LlmBackendError` after ``timeout`` seconds."""

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        """Stream one reply (blocking); raise `LlmBackendError` if it fails part-way."""

    def count_tokens(self, text: str) -> int | None:
        """``text``'s length in the model's own tokens; None where the backend cannot say
        (the caller then estimates). Never raises."""

    def close(self) -> None:
        """Release the model or the connection."""


class HttpTokenizer:
    """Counts tokens with a server's ``POST /tokenize``: llama.cpp's (``{"content"}``) or
    vLLM's (``{"model", "prompt"}``), whichever answers first; None while neither does.

    A server that has no such endpoint (it refuses both formats) is not asked again. One
    that cannot answer now (no connection, a timeout, a 5xx) is left alone for ``RETRY_S``
    and asked again after: a hung server costs the 5 s timeout once, not once per line of
    every prompt, and a busy one does not lose its tokenizer for good."""

    FORMATS = ("llama.cpp", "vllm")
    RETRY_S = 10.0
    TIMEOUT_S = 5.0

    def __init__(self, client: httpx.Client, model: Callable[[], str], *,
                 clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._model = model
        self._clock = clock
        self._formats: tuple[str, ...] = self.FORMATS
        """The ones still worth trying: the one that answered, once one has."""
        self._quiet_until = float("-inf")

    def count(self, text: str) -> int | None:
        if self._clock() < self._quiet_until:
            return None
        for kind in self._formats:
            body: dict[str, Any] = (
                {"content": text, "add_special": False} if kind == "llama.cpp" else
                {"model": self._model(), "prompt": text, "add_special_tokens": False})
            try:
                response = self._client.post("/tokenize", json=body, timeout=self.TIMEOUT_S)
            except httpx.HTTPError:
                response = None
            if response is None or response.is_server_error:
                # down or busy for now: the caller estimates; ask again in RETRY_S
                self._quiet_until = self._clock() + self.RETRY_S
                return None
            if response.status_code != 200:
                continue
            try:
                tokens = response.json()["tokens"]
            except (ValueError, KeyError, TypeError):
                continue
            self._formats = (kind,)
            return len(tokens)
        if len(self._formats) > 1:  # answered, but in neither format: stop asking
            self._formats = ()
        return None


_OVERFLOW = (
    # llama.cpp: "request (13547 tokens) exceeds the available context size (4096 tokens)"
    re.compile(r"request \((?P<requested>\d+) tokens\) exceeds the available context size "
               r"\((?P<available>\d+) tokens\)"),
    # vLLM: "maximum context length is 4096 tokens. However, you requested 13547 tokens" (or
    # "your request has 13547 input tokens")
    re.compile(r"maximum context length is (?P<available>\d+) tokens.*?"
               r"(?:requested|has) (?P<requested>\d+)", re.DOTALL),
)


def context_overflow(message: str) -> tuple[int, int] | None:
    """(tokens requested, tokens available) if ``message`` is a server's refusal of a prompt
    longer than its context, else None."""
    for pattern in _OVERFLOW:
        found = pattern.search(message)
        if found:
            return int(found["requested"]), int(found["available"])
    return None


def request_body(generation: Generation, default_model: str) -> dict[str, Any]:
    """The streaming chat-completions request body (OpenAI names plus the vLLM/llama.cpp
    extensions ``top_k`` and ``repetition_penalty``)."""
    sampling = generation.sampling
    body: dict[str, Any] = {
        "model": generation.model or default_model,
        "messages": generation.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": generation.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "presence_penalty": sampling.presence_penalty,
        "frequency_penalty": sampling.frequency_penalty,
        "repetition_penalty": sampling.repetition_penalty,
    }
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if generation.stop:
        body["stop"] = generation.stop
    if generation.tools:
        body["tools"] = generation.tools
        body["tool_choice"] = "auto"
    if generation.response_schema is not None:
        # OpenAI's name for it; llama.cpp's server (and xllamacpp) and vLLM's guided decoding
        # both read it. Not with ``tools``: llama.cpp refuses a grammar beside tools.
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "reply", "schema": generation.response_schema, "strict": True}}
    return body


def read_chunk(chunk: Mapping[str, Any]) -> tuple[Delta | None, str | None, Usage | None]:
    """(delta or None, finish_reason or None, usage if the chunk reports it).

    Raises `LlmBackendError` for an error chunk (servers report mid-stream failures this way).
    """
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, Mapping) else error
        raise LlmBackendError(f"the model server reported an error: {message}")
    usage = _usage(chunk)
    choices = chunk.get("choices") or []
    if not choices:
        return None, None, usage
    choice = choices[0]
    delta = choice.get("delta") or {}
    text = delta.get("content") or ""
    calls = delta.get("tool_calls") or []
    piece = Delta(text, list(calls)) if text or calls else None
    return piece, choice.get("finish_reason"), usage


def _usage(chunk: Mapping[str, Any]) -> Usage | None:
    usage = chunk.get("usage")
    timings = chunk.get("timings")  # llama.cpp
    if not isinstance(usage, Mapping) and not isinstance(timings, Mapping):
        return None
    usage = usage if isinstance(usage, Mapping) else {}
    timings = timings if isinstance(timings, Mapping) else {}
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        completion_tokens=usage.get("completion_tokens", timings.get("predicted_n")),
        cached_prompt_tokens=details.get("cached_tokens", timings.get("cache_n")),
    )
