"""Sample-rate conversion for streamed audio, chunk by chunk without seams.

Linear interpolation, carrying the last input sample and the fractional read position from
one chunk to the next, so a sentence cut into 40 ms chunks comes out exactly as if it had
been converted whole. Linear interpolation is plenty for speech going up to 48 kHz (the usual
case: 22.05 or 24 kHz voices); going down it aliases a little above the new Nyquist.
"""

from __future__ import annotations

import numpy as np

__all__ = ["StreamResampler", "resample"]


class StreamResampler:
    """Converts one stream from ``source_rate`` to ``target_rate``, a chunk at a time."""

    def __init__(self, source_rate: int, target_rate: int):
        if source_rate <= 0 or target_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {source_rate} -> {target_rate}")
        self.source_rate = source_rate
        self.target_rate = target_rate
        self.step = source_rate / target_rate
        self._position = 0.0
        """Where the next output sample lies, in input samples from the start of ``buffer``."""
        self._previous: np.ndarray | None = None

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """The converted samples (float32) that ``chunk`` completes."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if self.source_rate == self.target_rate:
            return chunk
        if len(chunk) == 0:
            return chunk
        buffer = chunk if self._previous is None else np.concatenate([self._previous, chunk])
        span = len(buffer) - 1
        count = 0
        if self._position <= span:
            count = int(np.floor((span - self._position) / self.step)) + 1
        times = self._position + self.step * np.arange(count)
        left = np.floor(times).astype(np.int64)
        right = np.minimum(left + 1, span)
        fraction = (times - left).astype(np.float32)
        out = buffer[left] * (1 - fraction) + buffer[right] * fraction
        self._position = self._position + count * self.step - span
        self._previous = buffer[-1:]
        return out.astype(np.float32)


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Convert a whole signal at once."""
    return StreamResampler(source_rate, target_rate).process(samples)
