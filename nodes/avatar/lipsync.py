"""Lip-sync maths: what the mouth does for each sample of a sentence, and when that sample is heard.

Pure functions and small classes, no bus and no VTube Studio:

- `viseme` maps one phoneme (espeak-ng IPA, as Piper and espeak give them) to a mouth
  opening and form; stress and length marks borrow from their neighbours.
- `SentenceTrack` turns the chunks of one synthesised sentence into a mouth curve sampled every
  `FRAME_S` seconds: from phoneme timings when the backend gives them, from the loudness
  envelope of the PCM otherwise.
- `PlayheadClock` says which sample of which sentence is audible at a given time, extrapolating
  from the speaker's last `Playhead` (``sample`` is heard at ``audible_ns``).
- `Smoother` is an attack/release filter: the mouth opens fast and closes a little slower,
  as real mouths do, without the flutter of raw values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "FRAME_S",
    "Mouth",
    "PlayheadClock",
    "SentenceTrack",
    "Smoother",
    "envelope_to_open",
    "viseme",
]

FRAME_S = 0.005
"""Resolution of a mouth curve: 5 ms, well under the 16.7 ms between injections at 60 Hz."""

CLOSED = (0.0, 0.5)
GATE_FULL = 0.4
"""Envelope level (0..1) at which a phoneme's shape shows fully; quieter sounds scale it."""

# (mouth open 0..1, mouth form 0 = rounded .. 1 = spread): rough visemes for English phonemes.
_VISEMES: dict[str, tuple[float, float]] = {}
for chars, shape in (
    ("pbm", (0.0, 0.5)),          # lips pressed
    ("fv", (0.12, 0.55)),         # lip on teeth
    ("wʍ", (0.25, 0.1)),          # rounded glide
    ("uʊoɔɒ", (0.5, 0.15)),       # rounded vowels
    ("aɑæɐʌ", (0.95, 0.55)),      # open vowels
    ("ɛeəɜɚɝ", (0.6, 0.6)),       # mid vowels
    ("iɪyj", (0.35, 0.85)),       # close spread vowels
    ("tdnlɾszθðkgŋhɹrʃʒʧʤçxʔ", (0.25, 0.5)),  # other consonants: slightly open
):
    for ch in chars:
        _VISEMES[ch] = shape
# The 15 Oculus/OVR visemes, which several TTS engines emit instead of phonemes.
_NAMED_VISEMES: dict[str, tuple[float, float]] = {
    "sil": (0.0, 0.5), "PP": (0.0, 0.5), "FF": (0.12, 0.55), "TH": (0.25, 0.5),
    "DD": (0.25, 0.5), "kk": (0.25, 0.5), "CH": (0.3, 0.4), "SS": (0.2, 0.7),
    "nn": (0.2, 0.5), "RR": (0.3, 0.35), "aa": (0.95, 0.55), "E": (0.6, 0.7),
    "I": (0.35, 0.85), "O": (0.6, 0.15), "U": (0.45, 0.05),
}
_SILENT = set(" .,;:!?-—…\"'()^$_\n")
_LENGTH_MARKS = set("ːˑ")
"""Lengthen the phoneme before them."""
_STRESS_MARKS = set("ˈˌ")
"""Belong to the phoneme after them (Piper gives them their own duration)."""


def viseme(phoneme: str) -> tuple[float, float] | None:
    """Mouth (open, form) for one phoneme (IPA) or named viseme (``"aa"``, ``"PP"``, ``"sil"``
    ...); None for a mark that borrows from a neighbour.

    Silence and punctuation close the mouth; an unknown symbol gets a half-open default so a
    new phoneme set never freezes the mouth.
    """
    if phoneme in _NAMED_VISEMES:
        return _NAMED_VISEMES[phoneme]
    if not phoneme or phoneme in _SILENT:
        return CLOSED
    if phoneme in _LENGTH_MARKS or phoneme in _STRESS_MARKS:
        return None
    for ch in phoneme:  # a multi-character phoneme ("oʊ", "tʃ") takes its first known sound
        if ch in _VISEMES:
            return _VISEMES[ch]
    return (0.4, 0.5)


def envelope_to_open(rms: np.ndarray, *, floor_db: float = -45.0,
                     full_db: float = -14.0) -> np.ndarray:
    """Mouth opening 0..1 from RMS loudness (1.0 = full scale), linear in dB between the marks."""
    db = 20.0 * np.log10(np.maximum(rms, 1e-9))
    return np.clip((db - floor_db) / (full_db - floor_db), 0.0, 1.0)


@dataclass(frozen=True)
class Mouth:
    """One mouth pose: ``open`` 0..1 and ``form`` 0 (rounded) .. 1 (spread)."""

    open: float
    form: float


@dataclass
class SentenceTrack:
    """The mouth curve of one sentence, built chunk by chunk as the audio arrives.

    Parameters
    ----------
    sample_rate:
        Samples per second of the sentence's audio.
    """

    sample_rate: int
    emotion: str = ""
    samples: int = 0
    """Audio samples received so far."""
    uses_phonemes: bool = False
    _open: list[float] = field(default_factory=list)
    _form: list[float] = field(default_factory=list)
    _pcm_tail: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _stress_from: int | None = None
    """Frame where a stress mark began: the next phoneme's shape starts there."""
    _envelope: list[float] = field(default_factory=list)
    _envelope_frames: int = 0

    @property
    def hop(self) -> int:
        return max(1, round(self.sample_rate * FRAME_S))

    def append(self, pcm: np.ndarray, phonemes: list[tuple[str, int, int]]) -> None:
        """Add one chunk: ``pcm`` as float samples in -1..1, ``phonemes`` as (phoneme, start
        sample within the chunk, samples).

        With phonemes, they give the mouth's shape and the loudness envelope scales it (a
        quiet consonant or a pause inside a phoneme closes the mouth, as it sounds); without,
        the envelope alone opens the mouth."""
        offset = self.samples
        self.samples += len(pcm)
        if phonemes:
            self.uses_phonemes = True
            self._add_phonemes(offset, phonemes)
        self._add_envelope(pcm)
        self._pad_to(self.samples // self.hop)

    def mouth(self, sample: float) -> Mouth:
        """The pose for ``sample`` (samples since the sentence began); closed outside it."""
        if sample < 0 or sample >= self.samples:
            return Mouth(*CLOSED)
        index = min(int(sample // self.hop), len(self._open) - 1)
        if index < 0:
            return Mouth(*CLOSED)
        loudness = self._envelope[index] if index < len(self._envelope) else 0.0
        if not self.uses_phonemes:
            return Mouth(loudness, CLOSED[1])
        return Mouth(self._open[index] * min(1.0, loudness / GATE_FULL), self._form[index])

    def _pad_to(self, frames: int) -> None:
        while len(self._envelope) < frames:
            self._envelope.append(0.0)
        while len(self._open) < frames:
            self._open.append(CLOSED[0])
            self._form.append(CLOSED[1])

    def _add_phonemes(self, offset: int, phonemes: list[tuple[str, int, int]]) -> None:
        hop = self.hop
        previous = (self._open[-1], self._form[-1]) if self._open else CLOSED
        for name, start, length in phonemes:
            shape = viseme(name)
            first = (offset + start) // hop
            last = (offset + start + length + hop - 1) // hop
            self._pad_to(last)
            if shape is None and name in _STRESS_MARKS:
                if self._stress_from is None:
                    self._stress_from = first
                continue
            if shape is None:  # length mark: hold the previous sound
                shape = previous
            if self._stress_from is not None:
                first, self._stress_from = self._stress_from, None
            for i in range(first, last):
                self._open[i], self._form[i] = shape
            previous = shape

    def _add_envelope(self, pcm: np.ndarray) -> None:
        # RMS over 10 ms windows every 5 ms; frame k covers samples [k*hop, k*hop + 2*hop), so
        # the mouth starts to open as a sound begins, not a window after it
        hop = self.hop
        window = 2 * hop
        audio = np.concatenate([self._pcm_tail, pcm.astype(np.float32)])
        frames = (len(audio) - window) // hop + 1 if len(audio) >= window else 0
        if frames > 0:
            strided = np.lib.stride_tricks.sliding_window_view(audio, window)[::hop][:frames]
            opens = envelope_to_open(np.sqrt(np.mean(strided * strided, axis=1)))
            self._pad_to(self._envelope_frames + frames)
            start = self._envelope_frames
            self._envelope[start:start + frames] = opens.tolist()
            self._envelope_frames += frames
            audio = audio[frames * hop:]
        self._pcm_tail = audio


@dataclass
class PlayheadClock:
    """Which sample of which sentence is audible now, from the speaker's last report.

    ``stale_s`` bounds the extrapolation: a speaker that stops reporting (crashed, paused)
    does not keep the mouth moving for longer than that (nor past the sentence's audio).
    """

    stale_s: float = 3.0
    key: tuple[str, int] | None = None
    sample: int = 0
    sample_rate: int = 1
    audible_ns: int = 0
    playing: bool = False
    ended_ns: int = 0
    """When the last sentence was heard to its end (or cut), ``time.time_ns()`` scale."""

    def update(self, request_id: str, sentence_index: int, sample: int, sample_rate: int,
               state: str, audible_ns: int) -> None:
        self.key = (request_id, sentence_index)
        self.sample = sample
        self.sample_rate = max(1, sample_rate)
        self.audible_ns = audible_ns
        self.playing = state == "playing"
        if state in ("finished", "cut"):
            self.ended_ns = audible_ns

    def heard(self, now_ns: int) -> tuple[tuple[str, int], float] | None:
        """(sentence key, sample audible at ``now_ns``), or None when nothing is playing."""
        if not self.playing or self.key is None:
            return None
        elapsed = (now_ns - self.audible_ns) / 1e9
        if elapsed > self.stale_s:
            return None
        return self.key, self.sample + elapsed * self.sample_rate


@dataclass
class Smoother:
    """Attack/release low-pass: ``attack_s`` and ``release_s`` are time constants in seconds."""

    attack_s: float = 0.012
    release_s: float = 0.03
    value: float = 0.0

    def update(self, target: float, dt: float) -> float:
        tau = self.attack_s if target > self.value else self.release_s
        alpha = 1.0 if tau <= 0 else 1.0 - math.exp(-max(0.0, dt) / tau)
        self.value += (target - self.value) * alpha
        return self.value
