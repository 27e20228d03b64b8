"""How high a voice is: the median fundamental frequency of speech, by autocorrelation.

For telling the personas' voices apart in numbers (``benchmarks/tts.py``, the voice tests):
numpy only, frame by frame, voiced frames only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["frame_pitches", "median_pitch_hz"]


def frame_pitches(pcm: np.ndarray, rate: int, *, low_hz: float = 60.0, high_hz: float = 400.0,
                  frame_s: float = 0.04, hop_s: float = 0.01, voiced: float = 0.6) -> np.ndarray:
    """The pitch (Hz) of each voiced frame of ``pcm`` (mono, any scale).

    A frame is voiced when it is loud (above a tenth of the loudest frame's RMS) and its
    normalised autocorrelation peaks above ``voiced`` at a lag between ``1/high_hz`` and
    ``1/low_hz``; the peak is refined by a parabola through its neighbours.
    """
    x = np.asarray(pcm, dtype=np.float64)
    size, hop = int(frame_s * rate), int(hop_s * rate)
    lo, hi = int(rate / high_hz), int(rate / low_hz)
    if len(x) < size or hi >= size:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, size)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    loud = rms > 0.1 * rms.max() if rms.max() > 0 else np.zeros(len(rms), bool)
    spectrum = np.fft.rfft(frames, 2 * size, axis=1)
    corr = np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, :size]
    corr = corr / np.maximum(corr[:, :1], 1e-12)
    pitches = []
    for row in corr[loud]:
        lag = lo + int(np.argmax(row[lo:hi + 1]))
        if row[lag] < voiced or lag >= hi:
            continue
        a, b, c = row[lag - 1], row[lag], row[lag + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
        pitches.append(rate / (lag + shift))
    return np.asarray(pitches)


def median_pitch_hz(pcm: np.ndarray, rate: int) -> float:
    """The median pitch of the voiced frames of ``pcm``, in Hz (0.0 when nothing is voiced)."""
    pitches = frame_pitches(pcm, rate)
    return float(np.median(pitches)) if len(pitches) else 0.0
