"""Which voice each persona speaks with: the ``voices`` parameter, else a preset.

Personas the parameter does not name get the presets in turn, in the order they first
speak, so the two hosts never share a voice even with no configuration at all.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nodes.tts.backends import VoiceSettings

__all__ = ["PRESETS", "VoiceBook", "parse_voices"]

PRESETS: tuple[VoiceSettings, ...] = (
    VoiceSettings(backend="piper", length_scale=1.0, fallback_voice="en-us", pitch=45),
    VoiceSettings(backend="piper", length_scale=0.8, noise_scale=0.5, noise_w_scale=0.5,
                  fallback_voice="en-us+f3", pitch=70, rate=185),
)
"""Both on the bundled Piper joe (one speaker only), told apart by pace and variation; on
espeak, a low male and a higher female voice."""


def parse_voices(raw: dict[str, Any]) -> dict[str, VoiceSettings]:
    """The ``voices`` parameter (persona -> settings) checked field by field.

    Raises
    ------
    ValueError
        Naming the persona and the bad field.
    """
    voices = {}
    for persona, settings in raw.items():
        try:
            voices[persona] = msgspec.convert(settings, VoiceSettings, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(f"voices.{persona}: {exc}") from None
    return voices


class VoiceBook:
    """Resolves a persona to its `VoiceSettings`."""

    def __init__(self, voices: dict[str, VoiceSettings], default_backend: str,
                 presets: tuple[VoiceSettings, ...] = PRESETS):
        self.voices = dict(voices)
        self.default_backend = default_backend
        self.presets = presets
        self._assigned: dict[str, VoiceSettings] = {}

    def resolve(self, persona: str) -> VoiceSettings:
        voice = self.voices.get(persona)
        if voice is not None:
            return voice
        voice = self._assigned.get(persona)
        if voice is None:
            preset = self.presets[len(self._assigned) % len(self.presets)]
            voice = self._assigned[persona] = msgspec.structs.replace(
                preset, backend=self.default_backend)
        return voice

    def fallback(self, persona: str, backend: str) -> VoiceSettings:
        """The persona's voice on the fallback ``backend`` (espeak: its ``fallback_voice``)."""
        voice = self.resolve(persona)
        return msgspec.structs.replace(voice, backend=backend, voice=voice.fallback_voice)

    def backends(self) -> set[str]:
        """Every backend named by configuration (loaded at start)."""
        return {v.backend for v in self.voices.values()} | {self.default_backend}
