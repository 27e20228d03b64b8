"""Personas: who speaks, in which voice (LoRA adapter and prompt), how they sample and stop.

A persona file is TOML, one ``[[persona]]`` table each::

    [[persona]]
    name = "mika"                 # the id requests use (LlmRequest.persona)
    adapter = "mika-lora"         # vLLM: served model name of the LoRA (--lora-modules NAME=PATH)
    system_prompt = "You are Mika, ..."
    stop = ["\\nViewer:"]          # stop strings
    max_sentences = 4             # stop after this many spoken sentences (0: no limit)
    max_tokens = 160
    small_prompt = "You are Mika: ..."   # the bundled 135M model's prompt ('' system_prompt)
    [persona.sampling]
    temperature = 0.9
    [[persona.examples]]          # the bundled model's examples: a line, and her reply to it
    line = "sam: Hi! How are you today?"
    reply = "[happy] I'm great, thanks! Ready for some games?"

The embedded backend applies ``adapter`` too: a ``NAME.gguf`` LoRA in its ``lora_dir`` (the
default personas' small adapters, `nodes.llm.lora`, with the bundled model).
One file describes a persona for every node: fields that other nodes read (the director's
``aliases``, ``traits``, ``voice``, ``avatar``, ``topics``) are ignored here; an unknown field
inside ``[persona.sampling]`` is refused (a typo there would silently change the voice).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

import msgspec

from bus.errors import VtError

__all__ = ["DEFAULT_PERSONAS", "Example", "Persona", "PersonaError", "Sampling",
           "load_personas"]


class PersonaError(VtError, ValueError):
    """A persona file or table is unusable; the message names the file and the field."""


class Sampling(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Sampling settings, sent with every request (OpenAI names; llama.cpp and vLLM accept
    ``top_k`` and ``repetition_penalty`` as extensions)."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    """1.0: off, as llama.cpp and vLLM have it. On the bundled 135M model 1.1 made replies
    echo the system prompt in long sentences (a later first sentence), not repeat less."""
    seed: int | None = None
    """A fixed seed makes replies reproducible (tests, benchmarks)."""


class Example(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A line someone says and the persona's reply, shown to a small model before the
    conversation (`nodes.llm.prompts`): it copies the length, the tag and the tone."""

    line: str
    """``name: text``, as the conversation gives others' lines."""
    reply: str
    """Her answer as she would write it, emotion tag first; never her own name or a label."""


class Persona(msgspec.Struct, frozen=True):
    """One personality."""

    name: str
    system_prompt: str
    display_name: str = ""
    """The name others use in the conversation; defaults to ``name`` capitalised."""
    adapter: str = ""
    """vLLM: the LoRA's served model name; empty uses the base model."""
    sampling: Sampling = Sampling()
    stop: list[str] = []
    max_tokens: int = 200
    max_sentences: int = 0
    """Stop generating once this many sentences were published (0: no limit)."""
    small_prompt: str = ""
    """The prompt for a small model (``prompt_style`` small: the bundled 135M one); empty:
    ``system_prompt``."""
    examples: list[Example] = []
    """For a small model: shown as earlier turns (a production model's LoRA carries the
    style instead)."""

    @property
    def speaker(self) -> str:
        return self.display_name or self.name.capitalize()


_EMBEDDED_STYLE = (
    "Keep it short: one to three sentences, spoken aloud, no lists, no stage directions."
)
# The bundled model's prompts and examples: measured with benchmarks/show_quality.py (issue
# 19). Examples never say the persona's name or a label, and each starts with a tag.
DEFAULT_PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="mika",
        display_name="Mika",
        adapter="mika",
        system_prompt=(
            "You are Mika, a bubbly, upbeat VTuber who co-hosts a live stream with Rook. "
            "You love games, cute animals and your chat, you get excited easily, you "
            "exclaim and tease, and you call viewers by name. " + _EMBEDDED_STYLE
        ),
        small_prompt=(
            "You are Mika: cheerful and playful, you love games and cute animals. Your "
            "co-host is Rook."
        ),
        examples=[
            Example("sam: Hi! How are you today?",
                    "[happy] I'm great, thanks! Ready for some games?"),
            Example("Rook: Games are a waste of time.",
                    "[smug] Says the one who lost at chess yesterday!"),
            Example("lee: What do you think about spiders?",
                    "[scared] Eek, far too many legs for me!"),
        ],
        sampling=Sampling(temperature=0.9, top_p=0.95),
        max_tokens=120,
        max_sentences=4,
    ),
    Persona(
        name="rook",
        display_name="Rook",
        adapter="rook",
        system_prompt=(
            "You are Rook, a dry, deadpan VTuber who co-hosts a live stream with Mika. "
            "You are calm, sarcastic and precise, you like facts and strategy, you speak in "
            "short plain sentences and never use exclamation marks. " + _EMBEDDED_STYLE
        ),
        small_prompt=(
            "You are Rook: calm, dry and sarcastic, you like facts and strategy. Your co-host "
            "is Mika."
        ),
        examples=[
            Example("sam: Hi! How are you today?",
                    "[neutral] Fine. The stream is running, which is something."),
            Example("Mika: Games are the best thing ever!",
                    "[smug] Statistically, you lose most of them."),
            Example("lee: What do you think about spiders?",
                    "[thinking] Useful. They eat the flies."),
        ],
        sampling=Sampling(temperature=0.6, top_p=0.9),
        max_tokens=120,
        max_sentences=3,
    ),
)


class _PersonaFile(msgspec.Struct):
    persona: list[Persona] = []


def load_personas(
    path: str | Path | None = None, inline: str = ""
) -> dict[str, Persona]:
    """Personas by name: the defaults, replaced or extended by ``path`` then ``inline`` TOML.

    Raises
    ------
    PersonaError
        The file is missing or not TOML, a table has an unknown or mistyped field, or two
        personas share a name in one source.
    """
    personas = {p.name: p for p in DEFAULT_PERSONAS}
    if path:
        source = Path(path)
        try:
            text = source.read_text()
        except OSError as exc:
            raise PersonaError(f"persona file {source}: {exc.strerror}") from None
        personas.update(_parse(text, str(source)))
    if inline.strip():
        personas.update(_parse(inline, "inline personas parameter"))
    return personas


def _parse(text: str, where: str) -> dict[str, Persona]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PersonaError(f"{where}: not TOML: {exc}") from None
    try:
        parsed = msgspec.convert(raw, _PersonaFile)
    except msgspec.ValidationError as exc:
        raise PersonaError(f"{where}: {exc}") from None
    return _by_name(parsed.persona, where)


def _by_name(personas: Iterable[Persona], where: str) -> dict[str, Persona]:
    found: dict[str, Persona] = {}
    for persona in personas:
        if not persona.name.strip():
            raise PersonaError(f"{where}: a persona has an empty name")
        if persona.name in found:
            raise PersonaError(f"{where}: persona {persona.name!r} is defined twice")
        found[persona.name] = persona
    return found
