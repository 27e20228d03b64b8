"""A zero-time stand-in: every reply is the same script, streamed word by word at once.

For measuring what the framework itself costs (``benchmarks/e2e.py``, a game decision's
framework cost in ``benchmarks/game.py``) and for a dry run of a show's wiring without loading
a model (``vtlaunch stream.launch.toml llm:=scripted``). A reply that must match a JSON schema
(a game move) is the next of ``replies`` while any are left (a test scripting a move: the code
of a Minecraft skill, a bad call), then the first value the schema allows, its free text from
the script: the game's top-ranked move, said with the script.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

import msgspec

from nodes.llm.backends.base import Delta, Generation, OnDelta, Outcome
from nodes.llm.moves import first_instance

__all__ = ["ScriptedBackend", "ScriptedSettings"]

DEFAULT_SCRIPT = "[happy] Hello chat, this is a scripted reply. It costs no time at all."


class ScriptedSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    script: str = ""
    """The reply to every request; empty: a default."""
    replies: tuple[str, ...] = ()
    """Replies to requests that must match a schema (moves), in order, each the model's raw
    text (``{"action": {"name": ..., "arguments": {...}}, "say": "..."}``); the llm node
    checks them like any model's output."""


class ScriptedBackend:
    Settings: ClassVar[type[ScriptedSettings]] = ScriptedSettings
    name = "scripted"
    tools_in_prompt: ClassVar[bool] = False

    def __init__(self, settings: ScriptedSettings, *,
                 personas: Sequence[str] = ()):
        self.script = settings.script or DEFAULT_SCRIPT
        self.replies = list(settings.replies)

    def wait_ready(self, timeout: float) -> None:
        """Always ready."""

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        reply = self.script
        if generation.response_schema is not None:
            reply = (self.replies.pop(0) if self.replies else
                     json.dumps(first_instance(generation.response_schema, self.script)))
        words = reply.split(" ")
        for count, word in enumerate(words, 1):
            if on_delta(Delta(text=word if count == 1 else " " + word)):
                return Outcome("stopped", count)
        return Outcome("stop", len(words))

    def count_tokens(self, text: str) -> int | None:
        """No tokenizer: the caller estimates."""
        return None

    def close(self) -> None:
        """Nothing to release."""
