"""The llm node's parameters (read by ``vtlaunch --check`` without starting the node).

What each request reads when it is built (the show prompt, the sentence lengths, the seed,
whether tools go in the prompt) is ``live``: ``vtparam set llm seed 7`` holds from the next
request on. What is loaded or opened once is ``at_start``: the backend and its settings (the
model and its context, the server's address and timeouts: a new backend is a new model or a
new connection), the personas, the readiness wait and the warm-up (both happen once, while
the node starts).

A backend's settings come from the parameters named like the fields of its ``Settings``
(``model_path``, ``base_url``...: the names launch files give today), then from
``backend_settings``, a table that takes any field of any backend's ``Settings``: a backend
added as a plug-in needs no parameter of its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from bus.params import Parameters, at_start, live

__all__ = ["Params"]


class Params(Parameters):
    backend: Annotated[str, at_start(
        "llamacpp (embedded, CPU), openai (vLLM, any OpenAI-compatible server) or scripted "
        "(a zero-time stand-in); a kind of nodes.llm.backends.BACKENDS", min_length=1)] = (
        "llamacpp")
    context: Annotated[int, at_start(
        "context length in tokens (per slot): what llamacpp loads, what the server serves "
        "(vLLM's --max-model-len); the prompt budget is this less the reply and a margin",
        ge=256)] = 4096
    show_prompt: Annotated[str, live(
        "system prompt shared by every persona ('' = the emotion-tag instructions of the "
        "prompt style)")] = ""
    prompt_style: Annotated[str, live(
        "small: short persona prompts, their examples, recent history only (made for the "
        "bundled 135M model); large: the full prompts and history (vLLM's models); '' small "
        "for the bundled model (llamacpp without model_path), else large",
        pattern="^(small|large)?$")] = ""
    max_sentence_chars: Annotated[int, live(
        "a longer sentence is cut at a clause", ge=20)] = 220
    seed: Annotated[int, live(
        "sampling seed of every persona (-1: each persona's own): the same words run after "
        "run, for benchmarks and bug reports", ge=-1)] = -1
    first_clause_chars: Annotated[int, live(
        "a reply's first sentence leaves at its first clause this many characters in, so "
        "speech starts sooner (0: whole sentences)", ge=0)] = 16
    say_max_chars: Annotated[int, live(
        "a game move's spoken line is at most this long (the decoding's maxLength)",
        ge=8, le=1000)] = 120
    tools_in_prompt: Annotated[bool | None, live(
        "describe tools in the system prompt (models without a tool-call format); "
        "unset: the backend's default (llamacpp: yes)")] = None
    warm_up: Annotated[bool, at_start(
        "compute each persona's system prompt once the model is ready, so its first reply "
        "does not wait for it")] = True
    ready_timeout_s: Annotated[float, at_start(
        "how long to wait for the model server at start (later waits: 5 s)", gt=0)] = 600.0
    personas_file: Annotated[str, at_start("TOML file of [[persona]] tables")] = ""
    personas: Annotated[str, at_start("inline TOML of [[persona]] tables")] = ""
    model_path: Annotated[str, at_start(
        "llamacpp: GGUF file; empty: the bundled model")] = ""
    slots: Annotated[int, at_start(
        "llamacpp: KV-cache slots (0: one per persona, which keeps switches cheap)",
        ge=0)] = 0
    threads: Annotated[int, at_start(
        "llamacpp: CPU threads; 0: half the cores (1 to 8)", ge=0)] = 0
    prompt_cache_mib: Annotated[int, at_start(
        "llamacpp: RAM for prompts a slot moved away from (0: off, -1: no limit)",
        ge=-1)] = 0
    base_url: Annotated[str, at_start(
        "openai: server, without /v1")] = "http://127.0.0.1:8000"
    model: Annotated[str, at_start("openai: base model name; empty: the first listed")] = ""
    api_key_env: Annotated[str, at_start(
        "openai: name of the env variable holding the API key")] = ""
    read_timeout_s: Annotated[float, at_start(
        "openai: longest silence in a stream", gt=0)] = 60.0
    vision: Annotated[bool, at_start(
        "openai: the served model can see (vLLM serving a vision model): a request's images "
        "(watch mode's screen) go with its last user turn as image_url parts; off: left "
        "out")] = False
    script: Annotated[str, at_start(
        "scripted: the reply to every request ('' a default)")] = ""
    backend_settings: Annotated[dict[str, Any], at_start(
        "settings of the chosen backend by its Settings' field names, over the parameters "
        "above (a plug-in backend's own settings go here)")] = {}
