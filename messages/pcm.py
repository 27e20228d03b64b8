"""Raw PCM as numbers: the one reading of ``pcm`` + ``format`` + ``channels`` (`messages.audio`).

Every node that turns audio bytes from the bus into samples, or counts them, does it here, so
a format means the same thing everywhere:

- ``s16le``: 16-bit signed integers, little-endian, 2 bytes a sample, read as ``value / 32768``
  (so -32768 is -1.0 and ``round(x * 32768)`` gives the same integers back);
- ``f32le``: 32-bit floats, little-endian, 4 bytes a sample, nominally in -1..1;
- ``channels`` samples, interleaved, make one *frame*: a frame is one instant of sound, and
  what ``sample`` counts in `messages.audio.Playhead` and `messages.audio.PhonemeTiming`.

Bytes that cannot be read as declared raise `bus.errors.PcmError` saying what is wrong; a node
drops such a chunk as bad input and carries on.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from bus.errors import PcmError

__all__ = ["SAMPLE_BYTES", "decode_mono", "frame_count"]

SAMPLE_BYTES: Final[dict[str, int]] = {"s16le": 2, "f32le": 4}
"""Bytes of one sample (one channel) of each `messages.audio.SampleFormat`."""

_DTYPES: Final[dict[str, str]] = {"s16le": "<i2", "f32le": "<f4"}


def frame_count(pcm: bytes, sample_format: str, channels: int) -> int:
    """Frames in ``pcm`` (samples per channel).

    Parameters
    ----------
    pcm:
        Interleaved samples, as `messages.audio.AudioChunk.pcm` carries them.
    sample_format:
        ``"s16le"`` or ``"f32le"``.
    channels:
        Samples per frame, 1 or more.

    Raises
    ------
    PcmError
        The format is unknown, ``channels`` is below 1, or ``pcm`` is not whole frames.
    """
    width = SAMPLE_BYTES.get(sample_format)
    if width is None:
        raise PcmError(f"unknown sample format {sample_format!r} (s16le or f32le)")
    if channels < 1:
        raise PcmError(f"{channels} channels: a frame needs at least one")
    frame_bytes = width * channels
    if len(pcm) % frame_bytes:
        raise PcmError(f"{sample_format} PCM of {len(pcm)} bytes is not whole frames of "
                       f"{channels} channel(s) ({frame_bytes} bytes each)")
    return len(pcm) // frame_bytes


def decode_mono(pcm: bytes, sample_format: str, channels: int) -> NDArray[np.float32]:
    """``pcm`` as one float32 sample a frame, nominally in -1..1; channels are averaged.

    Parameters are those of `frame_count`; the result has `frame_count` samples.

    Raises
    ------
    PcmError
        As `frame_count`, and for ``f32le`` samples that are NaN or infinite (they would
        poison every filter and mix downstream).
    """
    frames = frame_count(pcm, sample_format, channels)
    samples = np.frombuffer(pcm, _DTYPES[sample_format]).astype(np.float32)
    if sample_format == "s16le":
        samples /= 32768.0
    elif not np.isfinite(samples).all():
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise PcmError(f"f32le PCM holds {bad} NaN or infinite sample(s)")
    if channels > 1:
        samples = samples.reshape(frames, channels).mean(axis=1, dtype=np.float32)
    return samples
