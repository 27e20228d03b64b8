"""A zero-time stand-in: a soft tone as long as the text would take to say, made at once.

For measuring what the framework itself costs (``benchmarks/e2e.py``) and for a dry run of
a show without loading a voice. Mouths still move: the loudness envelope drives lip sync.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import numpy as np

from nodes.tts.backends import SynthChunk

__all__ = ["ToneBackend", "ToneSettings", "ToneVoiceOptions"]


class ToneSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    sample_rate: int = 22050
    chars_per_s: float = 15.0
    """Speaking speed the tone's length imitates."""
    frequency_hz: float = 220.0
    """Rounded to a whole number of Hz (a second of tone is made once and repeated)."""
    amplitude: float = 0.2


class ToneVoiceOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Every persona sounds the same on the tone."""


class ToneBackend:
    name = "tone"
    Settings = ToneSettings
    Voice = ToneVoiceOptions

    def __init__(self, settings: ToneSettings):
        self.settings = settings
        # one second, made once: computing the sine per sentence cost ~1 ms here, which is
        # not the framework's time; a whole number of periods repeats without a click
        rate = settings.sample_rate
        periods = max(1, round(settings.frequency_hz))
        t = np.arange(rate) / rate
        wave = settings.amplitude * np.sin(2 * np.pi * periods * t)
        self._second = (wave * 32767).astype(np.int16)

    async def synthesize(self, text: str, voice: ToneVoiceOptions) -> AsyncIterator[SynthChunk]:
        s = self.settings
        samples = max(1, int(len(text) / s.chars_per_s * s.sample_rate))
        yield SynthChunk(np.resize(self._second, samples), s.sample_rate)

    async def aclose(self) -> None:
        """Nothing to release."""
