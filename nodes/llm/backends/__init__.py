"""LLM backends behind one Protocol (`nodes.llm.backends.base.Backend`), one file each.

- ``llamacpp``: llama.cpp in this process (xllamacpp), the bundled SmolLM2 by default.
- ``openai``: any OpenAI-compatible streaming server: vLLM in production, llama.cpp's.
- ``scripted``: a zero-time stand-in, the same reply to every request.

Adding one is its file (a class with a ``Settings`` Struct, see `bus.plugins`) plus its line
here; the node picks it with ``-p backend:=KIND`` and gives it ``-p backend_settings:=...``.
"""

from __future__ import annotations

from bus.plugins import Registry
from nodes.llm.backends.base import Backend

__all__ = ["BACKENDS"]

BACKENDS = Registry[Backend]("LLM backend", {
    "llamacpp": "nodes.llm.backends.llamacpp:LlamaCppBackend",
    "openai": "nodes.llm.backends.openai_compat:OpenAICompatBackend",
    "scripted": "nodes.llm.backends.scripted:ScriptedBackend",
})
