"""Telling the personas' own voices (played on speakers, heard by the mic) from a person.

The speaker node says what it plays (``tts/audio``: the PCM and text of every sentence) and
when each sample is heard (``audio/playhead``: sample ``sample`` of a sentence is audible at
``audible_ns``). That puts the reference on the microphone's clock, and two checks follow:

1. `EchoGate`, per 32 ms chunk, before voice activity: a double-talk detector in the manner of
   Geigel's (the classic one in telephone echo cancellers), on energies. The echo in the mic
   can be at most ``gain`` times the loudest reference heard over the echo path's length
   (``tail_ms`` back, ``lead_ms`` forward for timing error). A chunk is the person's only when
   its energy beats that by ``margin_db``; otherwise its speech probability counts as silence,
   so the personas' voices never start an utterance (no barge-in) however speech-like they are.
   ``gain`` is learnt while the personas talk: a low percentile of mic/reference energy ratios
   over the last seconds (the person talking over them only raises some ratios); until enough
   chunks are seen, the largest ratio seen so far (never below ``initial_gain_db``) is used,
   so an unknown echo path cannot slip through at the first sentence.
2. `is_echo_text`, per transcript: a transcript of an utterance heard while the personas spoke
   whose words are mostly theirs is dropped (a second line for an echo that beat the gate).

Cross-correlating waveforms was rejected: loudspeakers, the room and resampling change the
waveform, and an adaptive filter needs a sample-exact reference the bus cannot promise; energy
envelopes aligned within tens of milliseconds survive all of that and cost almost nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from nodes.stt.text import overlap

__all__ = ["EchoGate", "EchoSettings", "ReferenceTimeline", "is_echo_text"]

BLOCK_S = 0.010
"""The reference is kept as energies of 10 ms blocks: enough time resolution for the gate."""
SILENT_ENERGY = 1e-7
"""Mean square below this (about -70 dBFS) is silence: nothing audible, nothing to gate."""


@dataclass(frozen=True)
class EchoSettings:
    margin_db: float = 6.0
    initial_gain_db: float = -6.0
    tail_ms: float = 150.0
    lead_ms: float = 60.0
    window_chunks: int = 100
    warmup_chunks: int = 10
    percentile: float = 30.0
    text_overlap: float = 0.7
    extrapolate_ms: float = 500.0
    """How far past the last playhead report a ``playing`` sentence is assumed audible."""


@dataclass
class _Sentence:
    sample_rate: int
    text: str = ""
    energies: list[float] = field(default_factory=list)
    remainder: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    complete: bool = False
    # the playhead: `sample` is heard at `audible_ns`; audible up to `until_sample`
    anchor_sample: int | None = None
    anchor_ns: int = 0
    state: str = "playing"

    @property
    def block(self) -> int:
        return max(1, round(self.sample_rate * BLOCK_S))

    @property
    def samples(self) -> int:
        return len(self.energies) * self.block + len(self.remainder)

    def audible_span(self, extrapolate_ns: int) -> tuple[int, int] | None:
        """Wall-clock span (ns) during which this sentence is (was) heard."""
        if self.anchor_sample is None or self.state == "idle":
            return None
        ns_per_sample = 1e9 / self.sample_rate
        start_ns = self.anchor_ns - int(self.anchor_sample * ns_per_sample)
        end_ns = start_ns + int(self.samples * ns_per_sample)
        if self.state == "cut":
            end_ns = self.anchor_ns
        elif self.state == "playing":
            end_ns = min(end_ns, self.anchor_ns + extrapolate_ns)
        return start_ns, end_ns


class ReferenceTimeline:
    """What the personas made audible, on the wall clock, as 10 ms energies.

    Parameters
    ----------
    keep_s:
        Sentences heard longer ago than this are forgotten.
    """

    def __init__(self, settings: EchoSettings | None = None, keep_s: float = 30.0):
        self.settings = settings or EchoSettings()
        self.keep_ns = int(keep_s * 1e9)
        self._sentences: dict[tuple[str, int], _Sentence] = {}

    def add_audio(self, request_id: str, sentence_index: int, pcm: bytes, sample_rate: int,
                  *, text: str = "", last: bool = False) -> None:
        """One ``tts/audio`` chunk (s16le mono); chunks of a sentence arrive in order."""
        sentence = self._sentences.setdefault((request_id, sentence_index),
                                              _Sentence(sample_rate=sample_rate))
        sentence.text = text or sentence.text
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
        pending = np.concatenate([sentence.remainder, samples])
        whole = len(pending) // sentence.block * sentence.block
        if whole:
            blocks = pending[:whole].reshape(-1, sentence.block)
            sentence.energies.extend(np.mean(blocks * blocks, axis=1).tolist())
        sentence.remainder = pending[whole:]
        sentence.complete = sentence.complete or last

    def on_playhead(self, request_id: str, sentence_index: int, sample: int, sample_rate: int,
                    state: str, audible_ns: int, *, text: str = "") -> None:
        """One ``audio/playhead`` report: ``sample`` of the sentence is heard at ``audible_ns``."""
        key = (request_id, sentence_index)
        sentence = self._sentences.setdefault(key, _Sentence(sample_rate=sample_rate))
        sentence.anchor_sample = sample
        sentence.anchor_ns = audible_ns
        sentence.state = state
        sentence.text = text or sentence.text
        self._forget_before(audible_ns - self.keep_ns)

    def peak(self, start_ns: int, end_ns: int) -> float:
        """Loudest 10 ms reference energy audible from ``start_ns - tail`` to ``end_ns + lead``:
        the most echo that can be in the mic from ``start_ns`` to ``end_ns``."""
        s = self.settings
        blocks = self._blocks(start_ns - int(s.tail_ms * 1e6), end_ns + int(s.lead_ms * 1e6))
        return max((max(b) for b in blocks if b), default=0.0)

    def aligned(self, start_ns: int, end_ns: int) -> float:
        """Mean reference energy over the same span, at the best lag within ``lead_ms``: what
        the echo in this span is made of (used to learn the echo path's gain)."""
        lead_ns = int(self.settings.lead_ms * 1e6)
        best = 0.0
        for lag_ns in range(-lead_ns, lead_ns + 1, int(BLOCK_S * 1e9)):
            blocks = [e for b in self._blocks(start_ns - lag_ns, end_ns - lag_ns) for e in b]
            if blocks:
                best = max(best, sum(blocks) / len(blocks))
        return best

    def _blocks(self, lo: int, hi: int) -> list[list[float]]:
        """The 10 ms energies of every sentence audible between ``lo`` and ``hi`` (ns)."""
        found = []
        for sentence, (span_lo, span_hi) in self._audible(lo, hi):
            ns_per_block = sentence.block * 1e9 / sentence.sample_rate
            first = max(0, int((max(lo, span_lo) - span_lo) // ns_per_block))
            last = int((min(hi, span_hi) - span_lo - 1) // ns_per_block) + 1
            found.append(sentence.energies[first:last])
        return found

    def texts(self, start_ns: int, end_ns: int) -> list[str]:
        """Texts of the sentences audible at any time from ``start_ns`` to ``end_ns``."""
        return [s.text for s, _ in self._audible(start_ns, end_ns) if s.text]

    def _audible(self, lo: int, hi: int) -> list[tuple[_Sentence, tuple[int, int]]]:
        extrapolate_ns = int(self.settings.extrapolate_ms * 1e6)
        found = []
        for sentence in self._sentences.values():
            span = sentence.audible_span(extrapolate_ns)
            if span is not None and span[0] < hi and span[1] > lo:
                found.append((sentence, span))
        return found

    def _forget_before(self, horizon_ns: int) -> None:
        extrapolate_ns = int(self.settings.extrapolate_ms * 1e6)
        for key, sentence in list(self._sentences.items()):
            span = sentence.audible_span(extrapolate_ns)
            if span is not None and span[1] < horizon_ns:
                del self._sentences[key]


class EchoGate:
    """Decides, chunk by chunk, whether the mic hears more than the personas' echo."""

    def __init__(self, settings: EchoSettings | None = None):
        self.settings = settings or EchoSettings()
        self._ratios: deque[float] = deque(maxlen=self.settings.window_chunks)
        self._margin = 10 ** (self.settings.margin_db / 10)
        self._initial_gain = 10 ** (self.settings.initial_gain_db / 10)

    @property
    def gain(self) -> float:
        """Current estimate of echo energy / reference energy."""
        if len(self._ratios) >= self.settings.warmup_chunks:
            return float(np.percentile(list(self._ratios), self.settings.percentile))
        return max([self._initial_gain, *self._ratios])

    def is_person(self, mic_energy: float, peak: float, aligned: float) -> bool:
        """True when the chunk holds more than the echo could (or nothing is audible).

        ``peak`` and ``aligned`` are `ReferenceTimeline.peak` and `.aligned` for the chunk.
        """
        if peak < SILENT_ENERGY:
            return True
        gain = self.gain  # judged against what was known before this chunk
        if aligned >= SILENT_ENERGY:
            self._ratios.append(mic_energy / aligned)
        return mic_energy > gain * self._margin * peak


def is_echo_text(transcript: str, sentences: list[str], threshold: float) -> bool:
    """True when most words of ``transcript`` are words the personas were saying."""
    return bool(sentences) and overlap(transcript, sentences) >= threshold
