"""The prompts: one style for the bundled 135M model, one for capable served models (no bus).

Both start with the show prompt (`SHOW_PROMPT`: who they are, that it is spoken, the emotion
tags). ``large`` (vLLM's Llama 3.1 70B, any capable model): each persona's ``system_prompt``
describes her, the whole conversation the director sends goes in. ``small`` (the bundled
SmolLM2-135M): a 135M model follows examples, not instructions, and copies whatever is in
front of it, so measured with ``benchmarks/show_quality.py`` it gets

- each persona's ``small_prompt`` (two sentences) after the show prompt (a short show prompt
  naming six tags was tried: on six script lines the replies fell into "I'm not sure." for
  both personas, 0% on topic against 53-83% with this one);
- the persona's ``examples`` as earlier turns right after the system prompt (a line, her
  reply with a tag), a stable prefix the KV cache keeps;
- only the last `SMALL_HISTORY_LINES` of the conversation, cut in steps of
  `SMALL_HISTORY_STEP` lines so its start stays put for several turns (a start that moved
  every turn would be computed again every turn);
- in both styles, stop strings at other speakers' labels on a new line (``\\nRook:``): the
  model had begun writing their line.

``prompt_style`` (a node parameter) picks one; unset, the bundled model gets ``small`` and any
other model ``large``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from nodes.llm.emotion import EMOTIONS
from nodes.llm.personas import Persona

__all__ = ["MAX_LABEL_STOPS", "SHOW_PROMPT", "SMALL_HISTORY_LINES", "SMALL_HISTORY_STEP",
           "chosen_style", "example_messages", "label_stops", "recent_block"]

SHOW_PROMPT = (
    "You are one of two AI co-hosts of a live stream; viewers and a human collaborator talk "
    "to you, and what you write is spoken aloud. Start each sentence with how you feel, as one "
    "tag in square brackets from: " + ", ".join(f"[{e}]" for e in sorted(EMOTIONS)) + "."
)
SMALL_HISTORY_LINES = 12
SMALL_HISTORY_STEP = 6
MAX_LABEL_STOPS = 12
"""Stop strings for at most this many other speakers (the personas first, then the most
recent speakers): llama.cpp checks each one after every token."""

T = TypeVar("T")


def chosen_style(style: str, backend: str, model_path: str) -> str:
    """``style`` (the node's ``prompt_style``), or when it is unset the one for the model:
    ``small`` for the bundled one (``llamacpp`` without a ``model_path``), else ``large``."""
    if style:
        return style
    return "small" if backend == "llamacpp" and not model_path else "large"


def example_messages(persona: Persona) -> list[dict[str, str]]:
    """The persona's examples as chat turns: the line as a user turn, her reply as hers."""
    messages = []
    for example in persona.examples:
        messages += [{"role": "user", "content": example.line},
                     {"role": "assistant", "content": example.reply}]
    return messages


def recent_block(turns: Sequence[T], keep: int = SMALL_HISTORY_LINES,
                 step: int = SMALL_HISTORY_STEP) -> list[T]:
    """The last turns, between ``keep - step`` and ``keep`` of them: the first one kept
    moves only every ``step`` turns, so a cached prompt's start holds meanwhile."""
    if len(turns) <= keep:
        return list(turns)
    start = -(-(len(turns) - keep) // step) * step  # ceiling: keep - step < kept <= keep
    return list(turns[start:])


def label_stops(others: Iterable[str]) -> list[str]:
    """Stop strings at another speaker's label on a new line, as written and capitalised
    (``\\nrook:``, ``\\nRook:``), for the first `MAX_LABEL_STOPS` names."""
    stops: list[str] = []
    names: list[str] = []
    for name in others:
        if name and name.lower() not in (n.lower() for n in names):
            names.append(name)
    for name in names[:MAX_LABEL_STOPS]:
        for form in dict.fromkeys((name, name.capitalize(), name.lower())):
            stops.append(f"\n{form}:")
    return stops
