"""LLM latency: time to first token and to first sentence, tokens/s, persona switch cost.

    python benchmarks/llm.py [--json] [--trials N] [--openai-url URL --openai-personas a,b]

Embedded (the default): the bundled SmolLM2-135M through xllamacpp, prompts built exactly as
the node builds them (show prompt, persona prompt, conversation).

Switch cost compares the same request (same persona, question and seed, temperature 0, so the
same reply) in two histories: after a request of the other persona (a switch) and after
another request of the same persona (no switch). With one KV-cache slot per persona (the
node's default) the persona's prompt prefix survives the switch; the one-slot baseline,
measured in the same run (time to first token only: a switch costs prompt processing, and the
replies being identical, the first sentence comes that much later), shows what a switch costs
when it does not. Requests that only prepare a history stop at their first token.

``lora_switch_ms``: the same comparison with each persona's LoRA adapter applied (the
default adapters, `nodes.llm.lora`): the measured request names its persona's adapter, the one
before it the other persona's (a switch of adapter) or the same one (the baseline, same run,
same prompt lengths); by time to first token. ``lora_ttft_ms`` against ``ttft_ms`` is what an
adapter costs a request at all.

``--openai-url`` runs the same measurements against an OpenAI-compatible server (vLLM on a GPU
machine), switching personas by model name (LoRA adapters).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import arguments, emit
from messages.llm import ChatTurn
from nodes.llm.backends.base import Backend, Delta, Generation
from nodes.llm.context import ContextParts, build_context
from nodes.llm.node import DEFAULT_SHOW_PROMPT
from nodes.llm.personas import DEFAULT_PERSONAS, Persona, Sampling
from nodes.llm.reply import ReplyAssembler

QUESTIONS = [
    "What is your favourite video game and why?",
    "Do you think cats or dogs make better streamers?",
    "What should we play next on stream?",
    "Tell me something surprising about space.",
    "What did you have for breakfast today?",
    "Which superpower would you pick?",
    "How do you stay calm when you lose a game?",
    "What is the best pizza topping?",
]
FIXED = Sampling(temperature=0.0, top_k=1, seed=7)


@dataclass
class Timing:
    ttft_ms: float
    first_sentence_ms: float | None
    tokens: int
    decode_tokens_per_s: float | None


def generation(persona: Persona, question: str, *, model: str = "",
               max_tokens: int = 48) -> Generation:
    built = build_context(
        ContextParts(persona=persona.name, persona_prompt=persona.system_prompt,
                     show_prompt=DEFAULT_SHOW_PROMPT,
                     conversation=[ChatTurn(role="user", name="viewer42", content=question)]),
        budget=3000,
    )
    return Generation(messages=built.messages, sampling=FIXED, max_tokens=max_tokens,
                      model=model or persona.adapter, persona=persona.name)


def timed(backend: Backend, gen: Generation, *, stop_at: str = "") -> Timing:
    """One request: when its first token and first sentence arrived, and its decode rate;
    ``stop_at`` ``token`` or ``sentence`` stops it there."""
    reply = ReplyAssembler(max_chars=220)
    stamps: list[float] = []
    first_sentence: list[float] = []
    start = time.perf_counter()

    def on_delta(delta: Delta) -> bool:
        stamps.append(time.perf_counter())
        if reply.feed(delta) and not first_sentence:
            first_sentence.append(stamps[-1])
        return stop_at == "token" or (stop_at == "sentence" and bool(first_sentence))

    backend.generate(gen, on_delta)
    end = time.perf_counter()
    if not first_sentence and reply.finish()[0]:
        first_sentence.append(end)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else None
    return Timing(
        ttft_ms=(stamps[0] - start) * 1000 if stamps else float("nan"),
        first_sentence_ms=(first_sentence[0] - start) * 1000 if first_sentence else None,
        tokens=len(stamps),
        decode_tokens_per_s=rate,
    )


def switch_trials(backend: Backend, a: Persona, b: Persona, trials: int,
                  model_of: Callable[[Persona], str], stop_at: str) -> dict[str, list[float]]:
    """First-sentence and first-token times of the same request, after a switch and not."""
    out: dict[str, list[float]] = {"switch_fs": [], "same_fs": [], "switch_ttft": [],
                                   "same_ttft": []}
    for k in range(trials):
        measured = generation(a, QUESTIONS[k % len(QUESTIONS)], model=model_of(a))
        earlier = generation(a, QUESTIONS[(k + 5) % len(QUESTIONS)], model=model_of(a))
        cases = [("switch", b), ("same", a)]
        for case, previous in cases if k % 2 == 0 else cases[::-1]:  # neither always first
            timed(backend, earlier, stop_at="token")
            timed(backend, generation(previous, QUESTIONS[(k + 3) % len(QUESTIONS)],
                                      model=model_of(previous)), stop_at="token")
            t = timed(backend, measured, stop_at=stop_at)
            out[f"{case}_ttft"].append(t.ttft_ms)
            if t.first_sentence_ms is not None:
                out[f"{case}_fs"].append(t.first_sentence_ms)
    return out


def measure(backend: Backend, personas: tuple[Persona, Persona], trials: int,
            model_of: Callable[[Persona], str], *, full: bool = True) -> dict[str, float]:
    """The figures for one backend; ``full=False``: switch cost by first token only."""
    a, b = personas
    for persona in personas:  # warm-up: load pages, fill each persona's cache
        timed(backend, generation(persona, QUESTIONS[0], model=model_of(persona)),
              stop_at="token")
    med = statistics.median
    switch = switch_trials(backend, a, b, trials, model_of, "sentence" if full else "token")
    figures = {
        "ttft_ms": round(med(switch["same_ttft"]), 1),
        "switch_overhead_ttft_ms": round(med(switch["switch_ttft"]) - med(switch["same_ttft"]),
                                         1),
    }
    if full:
        decode = timed(backend, generation(b, QUESTIONS[1], model=model_of(b), max_tokens=64))
        figures["first_sentence_ms"] = round(med(switch["same_fs"]), 1)
        figures["tokens_per_s"] = round(decode.decode_tokens_per_s or float("nan"), 1)
        figures["switch_overhead_ms"] = round(med(switch["switch_fs"]) - med(switch["same_fs"]),
                                              1)
    return figures


def main(argv: list[str] | None = None) -> dict[str, float | str]:
    parser = arguments(__doc__)
    parser.add_argument("--trials", type=int, default=5, help="switch trials (median)")
    parser.add_argument("--threads", type=int, default=0, help="embedded: 0 = half the cores")
    parser.add_argument("--openai-url", default="", help="also measure this server (vLLM)")
    parser.add_argument("--openai-personas", default="mika,rook",
                        help="two served model names (LoRA adapters) to switch between")
    args = parser.parse_args(argv)

    from nodes.llm.backends.llamacpp import LlamaCppBackend, LlamaCppSettings

    personas = (DEFAULT_PERSONAS[0], DEFAULT_PERSONAS[1])
    results: dict[str, float | str] = {"model": "SmolLM2-135M-Instruct Q4_1 (embedded)"}
    started = time.perf_counter()
    embedded = LlamaCppBackend(LlamaCppSettings(threads=args.threads, slots=2))
    results["load_s"] = round(time.perf_counter() - started, 2)
    results["threads"] = embedded.threads
    results["adapters"] = ",".join(sorted(embedded.adapters))
    results.update(measure(embedded, personas, args.trials, lambda p: ""))
    with_lora = measure(embedded, personas, args.trials, lambda p: p.adapter, full=False)
    results["lora_ttft_ms"] = with_lora["ttft_ms"]
    results["lora_switch_ms"] = with_lora["switch_overhead_ttft_ms"]
    embedded.close()

    one_slot = LlamaCppBackend(LlamaCppSettings(threads=args.threads, slots=1))
    baseline = measure(one_slot, personas, args.trials, lambda p: "", full=False)
    one_slot.close()
    results["switch_overhead_ttft_one_slot_ms"] = baseline["switch_overhead_ttft_ms"]

    if args.openai_url:
        from nodes.llm.backends.openai_compat import OpenAICompatBackend, OpenAICompatSettings

        remote = OpenAICompatBackend(OpenAICompatSettings(base_url=args.openai_url))
        remote.wait_ready(600)
        names = args.openai_personas.split(",")
        served = {personas[0].name: names[0], personas[1].name: names[-1]}
        figures = measure(remote, personas, args.trials, lambda p: served[p.name])
        results.update({f"openai_{k}": v for k, v in figures.items()})
        remote.close()

    results["wall_s"] = round(time.perf_counter() - started, 1)
    return emit(results, args.json)


if __name__ == "__main__":
    main()
