"""Which voice each persona speaks with: the ``voices`` parameter, else a preset.

A persona's table in ``voices`` names its ``backend`` and its ``fallback_voice`` (`VoiceChoice`,
common to every backend); its other fields are that backend's own voice options, checked by
the backend's ``Voice`` Struct, so a field the backend does not have (``pitch`` on Piper) is
refused with the persona, the backend and the field named::

    {"mika": {"backend": "piper", "length_scale": 0.9, "fallback_voice": "en-us+f3"},
     "rook": {"backend": "fish", "reference_audio": "/voices/rook.wav"}}

Personas the parameter does not name get a preset: the default cast's two by name (Mika on
Kokoro's female voice where Piper is the default, Rook on Piper's male one), any other
persona the presets in turn, in the order they first speak, so the two hosts never share a
voice even with no configuration at all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bus.errors import ParameterError, PluginError
from nodes.tts.backends import BACKENDS

__all__ = ["CAST_PRESETS", "PRESETS", "PersonaVoice", "Preset", "VoiceBook", "VoiceChoice",
           "backend_table", "parse_voices"]

BackendTables = Mapping[str, Mapping[str, Any]]
"""The node's ``backends`` parameter: backend name -> its settings (and ``kind`` when the
name is not a kind)."""


class VoiceChoice(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The part of a persona's voice table that every backend shares."""

    backend: str = "piper"
    """A key of the node's ``backends`` parameter, or a backend kind."""
    fallback_voice: str = "en-us"
    """The ``voice`` this persona speaks with on the fallback backend (an espeak-ng voice for
    the default fallback) when its own backend fails."""


class PersonaVoice(msgspec.Struct, frozen=True):
    """One persona's voice, resolved: the backend to speak with and its options there."""

    backend: str
    """A backend name (a key of ``backends``, or a kind)."""
    options: Any
    """An instance of that backend's ``Voice`` Struct."""
    fallback_voice: str = "en-us"


@dataclass(frozen=True)
class Preset:
    """A voice for a persona nobody configured: options per backend kind (kinds it does not
    name get their defaults)."""

    fallback_voice: str
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    instead: Mapping[str, str] = field(default_factory=dict)
    """Default backend kind -> the backend this preset speaks with instead (a voice the
    default backend does not have)."""


MIKA_PITCH = 1.35
"""How far the default cast's Mika raises Piper's joe where Kokoro is too slow (+5 semitones:
Whisper still understands it; the formants rise with the pitch, so a voice raised further
sounds smaller rather than female)."""
PRESETS: tuple[Preset, ...] = (
    Preset("en-us", {"piper": {"length_scale": 1.0}, "espeak": {"pitch": 45}}),
    Preset("en-us+f3", {"piper": {"length_scale": 0.8, "noise_scale": 0.5, "noise_w_scale": 0.5},
                        "espeak": {"pitch": 70, "rate": 185}}),
)
"""Both on the bundled Piper joe (one speaker only), told apart by pace and variation; on
espeak, a low male and a higher female voice."""

CAST_PRESETS: Mapping[str, Preset] = {
    "rook": PRESETS[0],
    "mika": Preset("en-us+f3", {**PRESETS[1].options,
                                "piper": {**PRESETS[1].options["piper"], "pitch_ratio": MIKA_PITCH},
                                "kokoro": {"voice": "jf_alpha"}},
                   instead={"piper": "kokoro"}),
}
"""The default cast's voices (nodes/director/cast.py). Rook: Piper's joe. Mika, where Piper
is the default: Kokoro's female jf_alpha where the machine renders Kokoro fast enough to speak
live (`KokoroSettings.max_rtf`: at most half real time, measured at load), else joe raised by
`MIKA_PITCH` at a quicker pace (Piper bundles no other voice). Measured in benchmarks/tts.py
(median pitch, Whisper tiny.en word error rate; quiet 2-core machine): Rook 99 Hz, 0.0; Mika
on Kokoro 269 Hz, 0.04; Mika on joe raised 133 Hz, 0.02. On 2 cores Kokoro renders at
0.6-1.3x real time (first audio ~1.0 s through the node against Piper's 0.08 s, and gaps
between sentences while the LLM shares the cores), so there Mika is on joe raised.
Other personas nobody configured get `PRESETS` in turn."""


def backend_table(name: str, backends: BackendTables) -> tuple[str, dict[str, Any]]:
    """The kind and the settings of the backend called ``name`` (a name that is not in
    ``backends`` is a kind with its default settings)."""
    settings = dict(backends.get(name, {}))
    return str(settings.pop("kind", name)), settings


def voice_options(persona: str, backend: str, table: Mapping[str, Any],
                  backends: BackendTables) -> Any:
    """``table`` checked by the ``Voice`` Struct of ``backend``'s kind.

    Raises
    ------
    ParameterError
        An unknown backend, or a field that backend does not have or of the wrong type,
        naming the persona, the backend and the field.
    """
    kind, _ = backend_table(backend, backends)
    named = f"TTS backend {backend!r}" + (f" (kind {kind})" if kind != backend else "")
    try:
        struct: type[msgspec.Struct] = BACKENDS.plugin_class(kind).Voice
    except PluginError as exc:
        raise ParameterError(f"voices.{persona}: {named}: {exc}") from None
    try:
        return msgspec.convert(dict(table), struct, strict=False)
    except msgspec.ValidationError as exc:
        fields = ", ".join(struct.__struct_fields__) or "none"
        shared = ", ".join(VoiceChoice.__struct_fields__)
        raise ParameterError(f"voices.{persona}: {exc} (persona {persona} speaks with {named}, "
                             f"whose voice fields are: {fields}; and every backend's: "
                             f"{shared})") from None


def parse_voice(persona: str, table: Any, backends: BackendTables) -> PersonaVoice:
    """One persona's table: `VoiceChoice` fields, the rest checked by its backend."""
    if not isinstance(table, Mapping):
        raise ParameterError(f"voices.{persona}: expected a table of voice fields, got "
                             f"{type(table).__name__}")
    shared = {k: v for k, v in table.items() if k in VoiceChoice.__struct_fields__}
    own = {k: v for k, v in table.items() if k not in VoiceChoice.__struct_fields__}
    try:
        choice = msgspec.convert(shared, VoiceChoice, strict=False)
    except msgspec.ValidationError as exc:
        raise ParameterError(f"voices.{persona}: {exc}") from None
    return PersonaVoice(choice.backend, voice_options(persona, choice.backend, own, backends),
                        choice.fallback_voice)


def parse_voices(raw: Mapping[str, Any], backends: BackendTables | None = None
                 ) -> dict[str, PersonaVoice]:
    """The ``voices`` parameter (persona -> table) checked field by field.

    Raises
    ------
    ParameterError
        Naming the persona, the backend and the bad field.
    """
    return {persona: parse_voice(persona, table, backends or {}) for persona, table in raw.items()}


class VoiceBook:
    """Resolves a persona to its `PersonaVoice`.

    Parameters
    ----------
    voices:
        The configured personas.
    default_backend:
        The backend of every other persona, each on a preset.
    backends:
        The node's ``backends`` parameter (which kind each backend name is).
    cast:
        Personas given a preset by name (`from_parameters`: the default cast's, `CAST_PRESETS`).
    max_personas:
        How many unconfigured personas keep their preset (personas come from the bus: the
        table stays bounded; one forgotten gets the next preset when it speaks again).
    """

    def __init__(self, voices: Mapping[str, PersonaVoice], default_backend: str,
                 backends: BackendTables | None = None, presets: tuple[Preset, ...] = PRESETS,
                 *, cast: Mapping[str, Preset] | None = None, max_personas: int = 256):
        self.voices = dict(voices)
        self.default_backend = default_backend
        self.tables = dict(backends or {})
        self.presets = presets
        self.cast = dict(cast or {})
        self.max_personas = max_personas
        self._assigned: OrderedDict[str, tuple[Preset, PersonaVoice]] = OrderedDict()
        self.unavailable: set[str] = set()
        """Backends that failed to load: a preset's ``instead`` is not taken to them."""
        self._given = 0
        """Presets given so far: the next persona gets the next one."""

    @classmethod
    def from_parameters(cls, voices: Mapping[str, Any], backends: BackendTables,
                        default_backend: str, fallback: str,
                        keep: VoiceBook | None = None) -> VoiceBook:
        """A book for the node's parameters, every name and table checked; with ``keep``,
        the personas it gave presets to keep them (a run-time set).

        Raises
        ------
        ParameterError
            A backend table its kind refuses, an unknown backend, a bad persona table.
        """
        for name in backends:
            kind, settings = backend_table(name, backends)
            try:
                BACKENDS.settings(kind, settings)
            except PluginError as exc:
                raise ParameterError(f"backends.{name}: {exc}") from None
        for what, name in (("default_backend", default_backend), ("fallback", fallback)):
            if name:
                kind, _ = backend_table(name, backends)
                try:
                    BACKENDS.plugin_class(kind)
                except PluginError as exc:
                    raise ParameterError(f"{what} {name!r}: {exc}") from None
        book = cls(parse_voices(voices, backends), default_backend, backends, cast=CAST_PRESETS)
        if keep is not None:
            book._given = keep._given
            book.unavailable = set(keep.unavailable)
            for persona, (preset, _) in keep._assigned.items():
                book._assigned[persona] = (preset, book._on_preset(persona, preset))
        return book

    def resolve(self, persona: str) -> PersonaVoice:
        voice = self.voices.get(persona)
        if voice is not None:
            return voice
        assigned = self._assigned.get(persona)
        if assigned is None:
            preset = self.cast.get(persona)
            if preset is None:
                preset = self.presets[self._given % len(self.presets)]
                self._given += 1
            assigned = self._assigned[persona] = (preset, self._on_preset(persona, preset))
            while len(self._assigned) > self.max_personas:
                self._assigned.popitem(last=False)
        else:
            self._assigned.move_to_end(persona)
        return assigned[1]

    def fallback(self, persona: str, backend: str) -> PersonaVoice:
        """The persona's voice on the fallback ``backend``: its ``fallback_voice`` as that
        backend's ``voice`` (and its preset's options there, if it is on a preset)."""
        voice = self.resolve(persona)
        assigned = self._assigned.get(persona)
        table = dict(self._preset_table(assigned[0], backend)) if assigned else {}
        kind, _ = backend_table(backend, self.tables)
        if "voice" in BACKENDS.plugin_class(kind).Voice.__struct_fields__:
            table["voice"] = voice.fallback_voice
        return PersonaVoice(backend, voice_options(persona, backend, table, self.tables),
                            voice.fallback_voice)

    def backends(self) -> set[str]:
        """Every backend named by configuration or by the default cast (loaded at start)."""
        cast = {self._preset_backend(p) for name, p in self.cast.items() if name not in self.voices}
        return {v.backend for v in self.voices.values()} | {self.default_backend} | cast

    def backend_failed(self, backend: str) -> list[str]:
        """``backend`` did not load: personas that a preset puts on it instead of the default
        backend speak with the default one, with their preset's options there (a backend
        configured for a persona by name stays: the node's fallback speaks for it).
        Returns those personas (of the cast, and any given a preset so far)."""
        moving = {name for name, preset in self.cast.items()
                  if name not in self.voices and self._preset_backend(preset) == backend}
        self.unavailable.add(backend)
        for persona, (preset, voice) in self._assigned.items():
            if voice.backend == backend:
                self._assigned[persona] = (preset, self._on_preset(persona, preset))
                moving.add(persona)
        return sorted(moving)

    def _preset_backend(self, preset: Preset) -> str:
        kind, _ = backend_table(self.default_backend, self.tables)
        instead = preset.instead.get(kind, self.default_backend)
        return self.default_backend if instead in self.unavailable else instead

    def _on_preset(self, persona: str, preset: Preset) -> PersonaVoice:
        backend = self._preset_backend(preset)
        table = self._preset_table(preset, backend)
        return PersonaVoice(backend, voice_options(persona, backend, table, self.tables),
                            preset.fallback_voice)

    def _preset_table(self, preset: Preset, backend: str) -> Mapping[str, Any]:
        return preset.options.get(backend_table(backend, self.tables)[0], {})
