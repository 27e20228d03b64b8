"""The memory node's parameters (read by ``vtlaunch --check`` without starting the node).

The store, its server, the embedder and the fact memory are opened once at start, so their
parameters are ``at_start``; what a search or a chat line reads each time (``max_k``,
``forget_command``) and the summary thresholds (applied to the open conversations by the
node's on-set callback) are ``live``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from bus.params import Parameters, at_start, live

__all__ = ["Params"]


class Params(Parameters):
    store_path: Annotated[str, at_start(
        "folder of the journal and embedded store ('' = $VT_DATA_DIR/memory, else "
        "~/.local/share/vtshow/memory)")] = ""
    chroma_host: Annotated[str, at_start("Chroma server host ('' = embedded store)")] = ""
    chroma_port: Annotated[int, at_start("Chroma server port", ge=1, le=65535)] = 8000
    collection: Annotated[str, at_start("Chroma collection", min_length=1)] = "memories"
    rebuild: Annotated[bool, at_start(
        "rebuild the store from the journal (corrupt or missing store)")] = False
    facts: Annotated[Literal["", "mem0"], at_start("fact memory: '' (none) or 'mem0'")] = ""
    llm_url: Annotated[str, at_start(
        "OpenAI-compatible LLM for Mem0 fact extraction ('' = none)")] = ""
    llm_model: Annotated[str, at_start("model name at llm_url")] = ""
    search_backend: Annotated[Literal["memory", "chroma"], at_start(
        "'memory' (exact, in-process, loaded from the journal) or 'chroma' (its query)")] = (
        "memory")
    encoder_threads: Annotated[int, at_start(
        "threads per embedding pass and for numpy (0 = the libraries' defaults)", ge=0)] = 1
    max_k: Annotated[int, live("most results one search returns", ge=1)] = 50
    forget_command: Annotated[str, live("chat command that forgets a viewer",
                                        pattern=r"^\S+$")] = "!forget"
    summary_turns: Annotated[int, live("turns per episodic summary", ge=1)] = 12
    summary_idle_s: Annotated[float, live(
        "summarise a conversation quiet this long (s)", gt=0)] = 120.0
