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
   Once a person speaks, beating the echo by ``keep_margin_db`` keeps the utterance going.
   ``gain`` is learnt while the personas talk: mic energy / reference energy summed over about
   a second (timing errors of tens of ms wash out), the low percentile of those ratios over the
   last seconds (a person talking over the personas only raises some of them). Until enough
   are seen, the largest ratio so far (never below ``initial_gain_db``) is used, so an unknown
   echo path cannot slip through at the very first sentence.
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

__all__ = ["EchoGate", "EchoSettings", "ReferenceTimeline", "is_echo_text", "masked_by_echo"]

BLOCK_S = 0.010
"""The reference is kept as energies of 10 ms blocks: enough time resolution for the gate."""
SILENT_ENERGY = 1e-7
"""Mean square below this (about -70 dBFS) is silence: nothing audible, nothing to gate."""


@dataclass(frozen=True)
class EchoSettings:
    margin_db: float = 6.0
    keep_margin_db: float = -6.0
    initial_gain_db: float = -6.0
    tail_ms: float = 150.0
    lead_ms: float = 60.0
    gain_window_chunks: int = 32
    """Energies summed over this many chunks (~1 s) give one mic/reference ratio."""
    history_chunks: int = 160
    """Ratios of the last ~5 s make the gain estimate."""
    warmup_chunks: int = 8
    percentile: float = 20.0
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
    max_sentences:
        At most this many sentences are kept (the oldest go first): sentences synthesised but
        never played (a cancelled reply) have no time to expire by.
    """

    def __init__(self, settings: EchoSettings | None = None, keep_s: float = 30.0,
                 max_sentences: int = 64):
        self.settings = settings or EchoSettings()
        self.keep_ns = int(keep_s * 1e9)
        self.max_sentences = max_sentences
        self._sentences: dict[tuple[str, int], _Sentence] = {}

    def add_audio(self, request_id: str, sentence_index: int, samples: np.ndarray,
                  sample_rate: int, *, text: str = "", last: bool = False) -> None:
        """One ``tts/audio`` chunk as mono float samples (`messages.pcm.decode_mono`); chunks
        of a sentence arrive in order."""
        sentence = self._sentence(request_id, sentence_index, sample_rate)
        sentence.text = text or sentence.text
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
        sentence = self._sentence(request_id, sentence_index, sample_rate)
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
        """Mean reference energy heard over the same span: what the echo in it is made of
        (summed over a second, it teaches the echo path's gain)."""
        blocks = [e for b in self._blocks(start_ns, end_ns) for e in b]
        return sum(blocks) / len(blocks) if blocks else 0.0

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

    def _sentence(self, request_id: str, sentence_index: int, sample_rate: int) -> _Sentence:
        key = (request_id, sentence_index)
        sentence = self._sentences.get(key)
        if sentence is None:
            sentence = self._sentences[key] = _Sentence(sample_rate=sample_rate)
            while len(self._sentences) > self.max_sentences:
                del self._sentences[next(iter(self._sentences))]
        return sentence

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
        self._window: deque[tuple[float, float]] = deque()
        self._ratios: deque[float] = deque()
        self.configure(settings or EchoSettings())

    def configure(self, settings: EchoSettings) -> None:
        """New margins and windows from the next chunk on; what was learnt is kept."""
        self.settings = s = settings
        self._window = deque(self._window, maxlen=s.gain_window_chunks)
        self._ratios = deque(self._ratios, maxlen=s.history_chunks)
        self._margin = 10 ** (s.margin_db / 10)
        self._keep_margin = 10 ** (s.keep_margin_db / 10)
        self._initial_gain = 10 ** (s.initial_gain_db / 10)

    @property
    def gain(self) -> float:
        """Current estimate of echo energy / reference energy."""
        if len(self._ratios) >= self.settings.warmup_chunks:
            return float(np.percentile(list(self._ratios), self.settings.percentile))
        return max([self._initial_gain, *self._ratios])

    def is_person(self, mic_energy: float, peak: float, aligned: float, *,
                  speaking: bool = False) -> bool:
        """True when the chunk holds more than the echo could (or nothing is audible).

        ``peak`` and ``aligned`` are `ReferenceTimeline.peak` and `.aligned` for the chunk.
        Once a person is ``speaking``, beating the loudest possible echo at all is enough
        (hysteresis: their quieter syllables must not cut their utterance in two).
        """
        if peak < SILENT_ENERGY:
            return True
        gain = self.gain  # judged against what was known before this chunk
        self._window.append((mic_energy, aligned))
        reference = sum(r for _, r in self._window)
        if len(self._window) == self._window.maxlen and reference >= SILENT_ENERGY:
            # energy over a second: timing errors of tens of ms no longer matter
            self._ratios.append(sum(m for m, _ in self._window) / reference)
        return bool(mic_energy > gain * (self._keep_margin if speaking else self._margin) * peak)


def masked_by_echo(samples: np.ndarray, start_ns: int, end_ns: int,
                   reference: ReferenceTimeline, gate: EchoGate, *, speaking: bool) -> bool:
    """True when the chunk ``samples`` (heard from ``start_ns`` to ``end_ns``) holds no more
    than the personas' echo: its speech probability then counts as silence."""
    peak = reference.peak(start_ns, end_ns)
    aligned = reference.aligned(start_ns, end_ns) if peak > 0 else 0.0
    return not gate.is_person(float(np.mean(samples * samples)), peak, aligned,
                              speaking=speaking)


def is_echo_text(transcript: str, sentences: list[str], threshold: float) -> bool:
    """True when most words of ``transcript`` are words the personas were saying."""
    return bool(sentences) and overlap(transcript, sentences) >= threshold
