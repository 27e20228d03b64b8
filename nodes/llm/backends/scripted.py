"""A zero-time stand-in: every reply is the same script, streamed word by word at once.

For measuring what the framework itself costs (``benchmarks/e2e.py``) and for a dry run of
a show's wiring without loading a model (``vtlaunch stream.launch.toml llm:=scripted``).
"""

from __future__ import annotations

from nodes.llm.backends.base import Delta, Generation, OnDelta, Outcome

__all__ = ["ScriptedBackend"]

DEFAULT_SCRIPT = "[happy] Hello chat, this is a scripted reply. It costs no time at all."


class ScriptedBackend:
    name = "scripted"

    def __init__(self, script: str = DEFAULT_SCRIPT):
        self.script = script or DEFAULT_SCRIPT

    def wait_ready(self, timeout: float) -> None:
        """Always ready."""

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        words = self.script.split(" ")
        for count, word in enumerate(words, 1):
            if on_delta(Delta(text=word if count == 1 else " " + word)):
                return Outcome("stopped", count)
        return Outcome("stop", len(words))

    def count_tokens(self, text: str) -> int | None:
        """No tokenizer: the caller estimates."""
        return None

    def close(self) -> None:
        """Nothing to release."""
