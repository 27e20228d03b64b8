"""The TTS node's parameters. All are live: voices and backends are checked again and the
voice book rebuilt on a set (a backend whose settings changed is loaded anew on its next
use), the sizes are read for each sentence."""

from __future__ import annotations

from typing import Annotated, Any

from bus.params import Parameters, live

__all__ = ["Params"]


class Params(Parameters):
    voices: Annotated[dict[str, dict[str, Any]], live(
        "persona -> {backend, fallback_voice, and that backend's voice options "
        "(nodes/tts/README.md)}; unnamed personas get the presets in turn")] = {}
    backends: Annotated[dict[str, dict[str, Any]], live(
        "backend name -> its settings; a name other than a kind says its kind in 'kind' "
        "(e.g. {\"fish\": {\"kind\": \"fish_speech\", \"url\": ...}})")] = {}
    default_backend: Annotated[str, live("backend of personas not in voices",
                                         min_length=1)] = "piper"
    fallback: Annotated[str, live(
        "backend used when a persona's own fails ('' for none)")] = "espeak"
    chunk_ms: Annotated[float, live("audio per tts/audio chunk, ms", gt=0, le=10_000)] = 40.0
    max_chars: Annotated[int, live("longest piece synthesised", ge=1)] = 160
    first_max_chars: Annotated[int, live(
        "longest first piece of a reply (0: as max_chars)", ge=0)] = 15
    """Piper renders a piece whole before its first sample: sentence -> first audio through
    the node was 106 ms at 25 characters and 85-88 ms at 15 (quiet 2-core machine, two runs
    each). The first piece ends at a clause if one ends in time ("Welcome back,"), else at a
    space ("I tried to bake": a seam inside the clause, the price of the sooner start)."""
