"""Sample-rate conversion with a windowed-sinc kernel, in pieces (numpy only).

A capture device that cannot run at 16 kHz (an ALSA ``hw:`` device at 44.1/48 kHz) and a WAV
file at any rate both go through `Resampler`, which keeps the few input samples it still needs
between calls, so a stream converted block by block equals the whole signal converted at once.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Resampler", "resample"]

HALF_TAPS = 16
"""Kernel half-width in input samples (at the lower of the two rates): ~-60 dB stop band with
the Blackman window, plenty for speech."""


class Resampler:
    """Converts a float32 mono stream from ``from_rate`` to ``to_rate`` Hz.

    Parameters
    ----------
    from_rate, to_rate:
        Sample rates in Hz; equal rates pass samples through untouched.
    """

    def __init__(self, from_rate: int, to_rate: int):
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        common = math.gcd(from_rate, to_rate)
        # output n sits at input position n * down / up: `up` distinct fractional phases
        self._up = to_rate // common
        self._down = from_rate // common
        cutoff = min(1.0, to_rate / from_rate)  # anti-aliasing when going down
        self._half = int(np.ceil(HALF_TAPS / cutoff))
        self._taps = np.arange(-self._half + 1, self._half + 1)
        self._kernels = _kernel_table(self._up, self._taps, cutoff)
        # input history; index 0 of it is absolute input sample `_offset`
        self._history = np.zeros(self._half, dtype=np.float32)
        self._offset = -self._half
        self._next_out = 0  # absolute index of the next output sample

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Convert the next block; returns every output sample that the input so far fixes."""
        samples = np.asarray(samples, dtype=np.float32)
        if self.from_rate == self.to_rate:
            return samples
        buffer = np.concatenate([self._history, samples])
        end = self._offset + len(buffer)  # absolute index one past the last input sample
        # output n needs inputs up to floor(n * down / up) + half
        last = ((end - 1 - self._half) * self._up) // self._down
        outputs = np.arange(self._next_out, last + 1, dtype=np.int64)
        out = self._convolve(buffer, outputs)
        self._next_out = max(self._next_out, last + 1)
        keep_from = (self._next_out * self._down) // self._up - self._half
        cut = max(0, keep_from - self._offset)
        self._history = buffer[cut:]
        self._offset += cut
        return out

    def flush(self) -> np.ndarray:
        """The outputs still owed at the end of the stream (the input padded with silence)."""
        if self.from_rate == self.to_rate:
            return np.zeros(0, dtype=np.float32)
        total_in = self._offset + len(self._history)
        total_out = -(-total_in * self._up // self._down)
        before = self._next_out
        tail = self.process(np.zeros(self._half + 1, dtype=np.float32))
        return tail[: max(0, total_out - before)]

    def _convolve(self, buffer: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        if len(outputs) == 0:
            return np.zeros(0, dtype=np.float32)
        scaled = outputs * self._down
        base = scaled // self._up - self._offset  # in buffer coordinates
        values = buffer[base[:, None] + self._taps[None, :]]
        return np.einsum("ij,ij->i", values, self._kernels[scaled % self._up])


def _kernel_table(up: int, taps: np.ndarray, cutoff: float) -> np.ndarray:
    """Blackman-windowed sinc weights for each of the ``up`` fractional phases."""
    fraction = np.arange(up)[:, None] / up
    distance = (fraction - taps[None, :]) * cutoff
    window = np.clip(distance / (HALF_TAPS + 1), -1.0, 1.0)
    blackman = 0.42 + 0.5 * np.cos(np.pi * window) + 0.08 * np.cos(2 * np.pi * window)
    return (cutoff * np.sinc(distance) * blackman).astype(np.float32)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Convert a whole float32 mono signal; the output has ``len * to_rate / from_rate`` samples."""
    converter = Resampler(from_rate, to_rate)
    return np.concatenate([converter.process(samples), converter.flush()])
