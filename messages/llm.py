"""Thinking: requests to the LLM node, streamed sentences back, cancellation, tool calls."""

from __future__ import annotations

from typing import Any, Literal

from messages.base import Message

__all__ = [
    "Cancel",
    "ChatTurn",
    "Image",
    "LlmDone",
    "LlmRequest",
    "Sentence",
    "ToolCall",
    "ToolSpec",
]


class ChatTurn(Message, tag="llm.ChatTurn"):
    """One line of conversation as the model sees it (OpenAI chat roles)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    name: str = ""


class ToolSpec(Message, tag="llm.ToolSpec"):
    """A function the model may call: a name, a description and a JSON schema of arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = {}


class Image(Message, tag="llm.Image"):
    """A picture for a model that can see (a screen grab in watch mode)."""

    data: bytes
    encoding: str = "jpeg"
    """``jpeg`` or ``png``."""


class LlmRequest(Message, tag="llm.LlmRequest"):
    """Generate a reply as ``persona`` (``llm/request``).

    ``messages`` is the conversation so far; ``memories`` and ``chat`` are context the LLM node
    fits into its token budget in priority order.
    """

    request_id: str
    persona: str
    messages: list[ChatTurn] = []
    memories: list[str] = []
    chat: list[str] = []
    tools: list[ToolSpec] = []
    tool_choice: Literal["required", "auto"] = "required"
    """With ``tools``: ``required``, the reply is one call (a game move), decoded under the
    tools' schemas so it is valid by construction, with a line the persona says about it
    (published as the reply's sentences); ``auto``, the model may call a tool or just talk."""
    max_tokens: int = 0
    """0 means the persona's default."""
    images: list[Image] = []
    """Pictures shown with the last user turn, for a backend that can see (a vision model
    behind the OpenAI API); one that cannot leaves them out (the prompt describes them)."""
    prefill: bool = False
    """Only compute the prompt, say nothing (no sentence, no done): the director sends the
    conversation as the next speaker will see it while a reply still plays, so that
    speaker's real request finds it computed."""


class Cancel(Message, tag="llm.Cancel"):
    """Stop ``request_id`` now (``llm/cancel``, also obeyed by TTS and speaker); empty = all."""

    request_id: str = ""
    reason: str = ""


class Sentence(Message, tag="llm.Sentence"):
    """One complete sentence of a reply (``llm/sentence``), emotion tag parsed out of ``text``."""

    request_id: str
    persona: str
    index: int
    text: str
    emotion: str = "neutral"
    final: bool = False
    """True on the last sentence of the reply (may have empty text)."""


class ToolCall(Message, tag="llm.ToolCall"):
    """A function call the model made (``llm/tool_call``), for the game node."""

    request_id: str
    persona: str
    call_id: str
    name: str
    arguments: dict[str, Any] = {}


class LlmDone(Message, tag="llm.LlmDone"):
    """The end of a reply (``llm/done``): the full text, and whether it was cut off.

    ``text`` is the sentences published on ``llm/sentence``, as spoken (tags and emoji
    removed); when ``cut_off``, only those published before the cancel. ``error`` says why a
    reply failed (the node serves the next request); ``tokens`` is how many were generated.
    """

    request_id: str
    persona: str
    text: str
    cut_off: bool = False
    error: str = ""
    tokens: int = 0
