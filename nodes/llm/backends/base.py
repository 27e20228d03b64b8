"""The one Protocol every LLM backend implements, and the OpenAI chunk format they share.

Both backends speak OpenAI chat completions: vLLM and llama.cpp servers over HTTP, and
xllamacpp in process, whose streaming callback receives the same chunk dictionaries. So the
request body and the reading of a chunk live here, once.

A backend's `Backend.generate` is blocking and runs in a worker thread: it calls ``on_delta``
for every streamed piece, in order, and stops at once (the next token at the latest) when
``on_delta`` returns True. Failures raise `BackendError` with a message that says what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bus.errors import VtError
from nodes.llm.personas import Sampling

__all__ = ["Backend", "BackendError", "Delta", "Generation", "Outcome", "read_chunk",
           "request_body"]


class BackendError(VtError):
    """The model server failed, or answered something that is not a chat completion stream."""


@dataclass(frozen=True)
class Generation:
    """One request to a backend."""

    messages: list[dict[str, str]]
    sampling: Sampling = field(default_factory=Sampling)
    max_tokens: int = 200
    model: str = ""
    """vLLM: the served model name (a LoRA adapter's name picks that adapter); empty: the
    backend's default model. The embedded backend ignores it."""
    stop: list[str] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    """OpenAI tool schemas: ``{"type": "function", "function": {name, description, ...}}``."""


@dataclass(frozen=True)
class Delta:
    """A streamed piece: text, tool-call fragments, or both."""

    text: str = ""
    tool_calls: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """How a generation ended: ``stop``, ``length``, ``tool_calls`` or ``stopped`` (by us)."""

    finish_reason: str
    tokens: int


OnDelta = Callable[[Delta], bool]
"""Called for each piece; returning True stops the generation now."""


class Backend(Protocol):
    """An LLM that streams chat completions."""

    name: str

    def wait_ready(self, timeout: float) -> None:
        """Block until the model answers; raise `BackendError` after ``timeout`` seconds."""

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        """Stream one reply (blocking); raise `BackendError` if it fails part-way."""

    def close(self) -> None:
        """Release the model or the connection."""


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
    return body


def read_chunk(chunk: Mapping[str, Any]) -> tuple[Delta | None, str | None, int | None]:
    """(delta or None, finish_reason or None, completion tokens if the chunk reports usage).

    Raises `BackendError` for an error chunk (servers report mid-stream failures this way).
    """
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, Mapping) else error
        raise BackendError(f"the model server reported an error: {message}")
    usage = chunk.get("usage") or {}
    tokens = usage.get("completion_tokens") if isinstance(usage, Mapping) else None
    if tokens is None and isinstance(chunk.get("timings"), Mapping):
        tokens = chunk["timings"].get("predicted_n")  # llama.cpp
    choices = chunk.get("choices") or []
    if not choices:
        return None, None, tokens
    choice = choices[0]
    delta = choice.get("delta") or {}
    text = delta.get("content") or ""
    calls = delta.get("tool_calls") or []
    piece = Delta(text, list(calls)) if text or calls else None
    return piece, choice.get("finish_reason"), tokens
