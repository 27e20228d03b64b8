"""Test tones: a sine wave as float samples, and as the 16-bit PCM the nodes publish."""

from __future__ import annotations

import numpy as np

__all__ = ["s16", "tone"]


def tone(hz: float, seconds: float, rate: int, *, amplitude: float = 0.5) -> np.ndarray:
    """``seconds`` of a sine at ``hz``, sampled at ``rate``: float32 in [-amplitude, amplitude]."""
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def s16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian signed 16-bit PCM (scaled by 32767, truncated)."""
    return (samples * 32767).astype("<i2").tobytes()
