"""A LoRA adapter per persona on the embedded backend: the real bundled model in llama.cpp with
the default adapters (`nodes.llm.lora`, from the cache folder, made there if missing), applied
per request by the persona's adapter name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodes.llm.backends.base import Delta, Generation, Outcome
from nodes.llm.backends.llamacpp import LlamaCppBackend, LlamaCppSettings
from nodes.llm.personas import DEFAULT_PERSONAS, Persona, Sampling

pytestmark = pytest.mark.slow

MIKA, ROOK = DEFAULT_PERSONAS
QUESTIONS = [
    "What is your favourite video game and why?",
    "Do you think cats or dogs make better streamers?",
    "What should we play next on stream?",
    "Which superpower would you pick?",
]


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    made = LlamaCppBackend(LlamaCppSettings(threads=1, context=1024),
                           personas=[MIKA.name, ROOK.name])
    yield made
    made.close()


def ask(backend: LlamaCppBackend, persona: Persona, adapter: str, question: str, *,
        max_tokens: int = 48) -> tuple[str, Outcome]:
    """The persona's prompt and sampling with a fixed seed, under ``adapter``."""
    pieces: list[str] = []

    def on_delta(delta: Delta) -> bool:
        pieces.append(delta.text)
        return False

    sampling = Sampling(temperature=persona.sampling.temperature,
                        top_p=persona.sampling.top_p, seed=7)
    outcome = backend.generate(Generation(
        messages=[{"role": "system", "content": persona.system_prompt},
                  {"role": "user", "content": f"viewer42: {question}"}],
        sampling=sampling, max_tokens=max_tokens, model=adapter, persona=persona.name),
        on_delta)
    return "".join(pieces), outcome


def test_the_default_personas_adapters_are_loaded(backend: LlamaCppBackend) -> None:
    assert set(backend.adapters) == {MIKA.adapter, ROOK.adapter}


def from_scratch(backend: LlamaCppBackend, persona: Persona, adapter: str, question: str,
                 *, max_tokens: int = 48) -> str:
    """The reply with the whole prompt computed afresh: a request under another adapter
    first (llama.cpp clears a slot's cache when its adapter changes; a prompt partly reused
    from the cache is computed in other batches, which changes the last bits of the logits
    and so, now and then, a sampled token)."""
    other = "" if adapter else persona.adapter
    ask(backend, persona, other, question, max_tokens=1)
    return ask(backend, persona, adapter, question, max_tokens=max_tokens)[0]


def test_a_personas_reply_changes_with_its_adapter(backend: LlamaCppBackend) -> None:
    question = QUESTIONS[0]
    plain = from_scratch(backend, MIKA, "", question)
    adapted = from_scratch(backend, MIKA, MIKA.adapter, question)
    again = from_scratch(backend, MIKA, MIKA.adapter, question)
    assert adapted == again  # seeded: the difference is the adapter's
    assert adapted != plain


def test_an_adapter_with_no_file_speaks_with_the_base_model(backend: LlamaCppBackend) -> None:
    question = QUESTIONS[1]
    assert from_scratch(backend, ROOK, "nobody", question, max_tokens=16) == from_scratch(
        backend, ROOK, "", question, max_tokens=16)


def test_the_adapters_shift_the_style_they_were_made_for(backend: LlamaCppBackend) -> None:
    """Over the same seeded prompts: Mika's adapter makes her exclaim more (measured here:
    3 -> 12 exclamation marks over six replies); on Rook's prompt his adapter gives fewer
    than Mika's adapter would."""
    def exclamations(persona: Persona, adapter: str) -> int:
        return sum(ask(backend, persona, adapter, q)[0].count("!") for q in QUESTIONS)

    mika_plain, mika_adapted = exclamations(MIKA, ""), exclamations(MIKA, MIKA.adapter)
    assert mika_adapted >= max(2 * mika_plain, mika_plain + 3), (mika_plain, mika_adapted)
    rook_adapted, rook_as_mika = exclamations(ROOK, ROOK.adapter), exclamations(ROOK,
                                                                                MIKA.adapter)
    assert rook_adapted < rook_as_mika, (rook_adapted, rook_as_mika)


def test_a_persona_keeps_its_cached_prompt_across_a_switch(backend: LlamaCppBackend) -> None:
    """llama.cpp drops a slot's KV cache when its adapter changes: each persona keeps its own
    slot and adapter, so after the other persona spoke its prompt is still computed."""
    ask(backend, MIKA, MIKA.adapter, QUESTIONS[2], max_tokens=2)
    ask(backend, ROOK, ROOK.adapter, QUESTIONS[2], max_tokens=2)
    _, outcome = ask(backend, MIKA, MIKA.adapter, QUESTIONS[3], max_tokens=2)
    assert outcome.cached_prompt_tokens and outcome.cached_prompt_tokens > 20
