"""Streaming transcription: cutting utterances out of the chunk stream and deciding when to
run the recogniser: at most one partial and one final at a time, and no partial while a final
runs (on two cores more would only slow each other); a final never waits for a partial.

`Segmenter` takes each 32 ms chunk with its (echo-gated) speech probability, keeps a short
pre-roll so the first syllable is not clipped, and reports voice starts and ends at once. Jobs:

- *partial*: while someone talks, ``partial_interval_ms`` of speech after the previous one
  finished (a quick beam);
- *final*: as soon as the speech has paused ``final_after_ms`` (before the hangover is over),
  speculatively: if speech resumes the result is thrown away, if the hangover confirms the end
  the final transcript is ready at once or soon after. That is how the final lands within a
  second of the end of speech although the hangover alone takes ``hangover_ms``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nodes.stt.text import sounds_finished
from nodes.stt.vad import End, Pause, Resume, Start, Vad, VadSettings

__all__ = [
    "Job",
    "Rechunker",
    "RecognisedWord",
    "Recognition",
    "Result",
    "Segmenter",
    "StreamSettings",
    "VoiceEnd",
    "VoiceStart",
]


@dataclass(frozen=True)
class RecognisedWord:
    """A word with times in seconds from the first sample of the audio transcribed."""

    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass(frozen=True)
class Recognition:
    text: str
    words: tuple[RecognisedWord, ...] = ()


@dataclass(frozen=True)
class StreamSettings:
    """Times in milliseconds (``max_utterance_s`` in seconds)."""

    preroll_ms: float = 300.0
    partial_interval_ms: float = 1000.0
    min_partial_ms: float = 600.0
    final_after_ms: float = 96.0
    max_utterance_s: float = 25.0
    finished_hangover_ms: float = 0.0
    """A shorter hangover once the final guessed in the pause reads as a finished sentence
    (`nodes.stt.text.sounds_finished`); 0 keeps the VAD's hangover."""


@dataclass(frozen=True)
class VoiceStart:
    utterance_id: str
    onset_ns: int
    probability: float


@dataclass(frozen=True)
class VoiceEnd:
    utterance_id: str
    end_ns: int
    probability: float


@dataclass(frozen=True)
class Job:
    """Transcribe ``audio`` of an utterance; a final assumes speech ended at ``speech_end``."""

    utterance_id: str
    final: bool
    audio: np.ndarray = field(repr=False)
    speech_end: int | None = None


@dataclass(frozen=True)
class Result:
    """A transcript to publish; times in seconds from ``audio_ns`` (the first sample kept)."""

    utterance_id: str
    final: bool
    recognition: Recognition
    audio_ns: int
    speech_start_s: float
    speech_end_s: float
    audio: np.ndarray = field(repr=False)


@dataclass
class _Utterance:
    id: str
    first_index: int
    audio_ns: int
    onset_index: int
    chunks: list[np.ndarray] = field(default_factory=list)
    speech_end: int | None = None
    ended: bool = False
    final: Recognition | None = None
    final_pending: bool = False
    partial_at: int = 0
    """Chunk count when the last partial was taken (and again when it finished)."""


class Segmenter:
    """Voice starts and ends, and transcription jobs, from chunks and speech probabilities.

    Parameters
    ----------
    vad:
        The hysteresis/hangover state machine (its ``chunk_ms`` must match the chunks).
    settings:
        Pre-roll, partial cadence and final timing.
    chunk_samples, sample_rate:
        Size of every chunk pushed.
    new_id:
        Makes a fresh utterance id.
    """

    def __init__(self, vad: Vad, settings: StreamSettings, *, chunk_samples: int,
                 sample_rate: int, new_id: Callable[[], str]):
        self.vad = vad
        self.chunk_samples = chunk_samples
        self.sample_rate = sample_rate
        self.chunk_ns = chunk_samples * 1_000_000_000 // sample_rate
        self._preroll: deque[tuple[int, int, np.ndarray]] = deque()
        self.configure(settings)
        self._new_id = new_id
        self._current: _Utterance | None = None
        self._closing: list[_Utterance] = []
        """Ended utterances still waiting for their final transcript, oldest first."""
        self._final_running = False
        self._partial_running = False
        self._quiet_chunks = 0

    def configure(self, settings: StreamSettings, vad: VadSettings | None = None) -> None:
        """New timings (and VAD settings) from the next chunk on; an utterance under way
        keeps its audio and goes on under them."""
        if vad is not None:
            self.vad.configure(vad)
        self.settings = settings
        chunk_ms = self.chunk_ns / 1e6
        self._preroll_chunks = max(1, round(settings.preroll_ms / chunk_ms))
        self._preroll = deque(self._preroll,
                              maxlen=self._preroll_chunks + self.vad.settings.start_chunks)
        self._partial_chunks = max(1, round(settings.partial_interval_ms / chunk_ms))
        self._min_partial_chunks = max(1, round(settings.min_partial_ms / chunk_ms))
        self._final_after_chunks = max(1, round(settings.final_after_ms / chunk_ms))
        self._max_chunks = round(settings.max_utterance_s * 1000 / chunk_ms)
        self._finished_chunks = (max(1, round(settings.finished_hangover_ms / chunk_ms))
                                 if settings.finished_hangover_ms > 0 else None)

    def push(self, chunk: np.ndarray, start_ns: int, probability: float, *,
             masked: bool = False) -> list[VoiceStart | VoiceEnd | Result]:
        """Add the next chunk (captured from ``start_ns``) and its speech probability
        (``masked``: zeroed because only the personas' echo was heard, see `Vad.update`)."""
        transition = self.vad.update(probability, masked=masked)
        index = self.vad.index
        self._preroll.append((index, start_ns, chunk))
        out: list[VoiceStart | VoiceEnd | Result] = []
        utterance = self._current
        if isinstance(transition, Start):
            first = max(transition.onset - self._preroll_chunks, self._preroll[0][0])
            kept = [(i, ns, c) for i, ns, c in self._preroll if i >= first]
            utterance = self._current = _Utterance(
                id=self._new_id(), first_index=kept[0][0], audio_ns=kept[0][1],
                onset_index=transition.onset, chunks=[c for _, _, c in kept])
            out.append(VoiceStart(utterance.id, self._ns_of(utterance, transition.onset),
                                  transition.probability))
            return out
        if utterance is None:
            return out
        utterance.chunks.append(chunk)
        if isinstance(transition, Pause):
            utterance.speech_end = transition.end
            self._quiet_chunks = 1
        elif isinstance(transition, Resume):
            utterance.speech_end = None
            utterance.final = None
        elif transition is None and utterance.speech_end is not None:
            self._quiet_chunks += 1
        if transition is None and (len(utterance.chunks) >= self._max_chunks
                                   or self._finished(utterance)):
            transition = self.vad.force_end()
        if isinstance(transition, End):
            out += self._close(utterance, transition)
        return out

    def _finished(self, utterance: _Utterance) -> bool:
        """The end of the turn from its words: the final guessed in this pause is ready,
        reads as a finished sentence, and the pause has lasted the shorter hangover."""
        return (self._finished_chunks is not None and utterance.final is not None
                and utterance.speech_end is not None
                and self._quiet_chunks >= self._finished_chunks
                and sounds_finished(utterance.final.text))

    def end_now(self) -> list[VoiceEnd | Result]:
        """The audio stopped coming (a WAV that ended, a microphone that vanished): end the
        utterance under way as the hangover would have, so its final is still transcribed and
        nobody waits for an end that no chunk will bring. Nothing when none is under way."""
        utterance = self._current
        transition = self.vad.force_end()
        if utterance is None or transition is None:
            return []
        return self._close(utterance, transition)

    def _close(self, utterance: _Utterance, end: End) -> list[VoiceEnd | Result]:
        utterance.speech_end = end.end
        utterance.ended = True
        self._current = None
        out: list[VoiceEnd | Result] = [
            VoiceEnd(utterance.id, self._ns_of(utterance, end.end), end.probability)]
        if utterance.final is not None:
            out.append(self._result(utterance, utterance.final, final=True))
        else:
            self._closing.append(utterance)
        return out

    def next_job(self) -> Job | None:
        """The transcription to start now, if one is due (it is then counted as running).

        At most one final and one partial run at once: a final starts even while a partial
        runs (the end of speech never waits for a guess), a partial only when nothing runs.
        """
        if not self._final_running:
            job = self._final_due()
            if job is not None:
                self._final_running = True
                return job
            if not self._partial_running:
                job = self._partial_due()
                self._partial_running = job is not None
                return job
        return None

    def finish(self, job: Job, recognition: Recognition) -> list[Result]:
        """The recogniser's answer to ``job``: what (if anything) to publish."""
        if job.final:
            self._final_running = False
        else:
            self._partial_running = False
        if not job.final:
            current = self._current
            if current is None or current.id != job.utterance_id:
                return []  # the utterance ended meanwhile: its final says it better
            # the interval counts from here: partials never keep the CPU busy back to back,
            # so a final rarely has to wait for one
            current.partial_at = len(current.chunks)
            return [self._result(current, recognition, final=False)]
        for utterance in self._closing:
            if utterance.id == job.utterance_id:
                if utterance.speech_end != job.speech_end:
                    return []  # a guess made before the speech resumed: the next job redoes it
                self._closing.remove(utterance)
                return [self._result(utterance, recognition, final=True)]
        current = self._current
        if current is not None and current.id == job.utterance_id:
            current.final_pending = False
            if current.speech_end == job.speech_end:
                current.final = recognition  # published when the hangover confirms the end
        return []

    def _final_due(self) -> Job | None:
        if self._closing:
            utterance = self._closing[0]
            return Job(utterance.id, True, _join(utterance.chunks), utterance.speech_end)
        current = self._current
        if (current is not None and current.speech_end is not None and current.final is None
                and not current.final_pending
                and self._quiet_chunks >= self._final_after_chunks):
            current.final_pending = True
            return Job(current.id, True, _join(current.chunks), current.speech_end)
        return None

    def _partial_due(self) -> Job | None:
        current = self._current
        if current is None or current.speech_end is not None:
            return None
        speech_chunks = len(current.chunks)
        if (speech_chunks >= self._min_partial_chunks
                and speech_chunks - current.partial_at >= self._partial_chunks):
            current.partial_at = speech_chunks
            return Job(current.id, False, _join(current.chunks))
        return None

    def _ns_of(self, utterance: _Utterance, index: int) -> int:
        return utterance.audio_ns + (index - utterance.first_index) * self.chunk_ns

    def _result(self, utterance: _Utterance, recognition: Recognition, *, final: bool) -> Result:
        chunk_s = self.chunk_samples / self.sample_rate
        end = utterance.speech_end if utterance.speech_end is not None else (
            utterance.first_index + len(utterance.chunks))
        return Result(
            utterance_id=utterance.id, final=final, recognition=recognition,
            audio_ns=utterance.audio_ns,
            speech_start_s=(utterance.onset_index - utterance.first_index) * chunk_s,
            speech_end_s=(end - utterance.first_index) * chunk_s,
            audio=_join(utterance.chunks),
        )


class Rechunker:
    """Re-cuts s16le frames of any size (20-32 ms from the mic) into ``chunk_samples`` chunks,
    each stamped with the capture time of its first sample."""

    def __init__(self, chunk_samples: int, sample_rate: int):
        self.chunk_bytes = 2 * chunk_samples
        self.sample_rate = sample_rate
        self._pending = b""
        self._pending_ns = 0

    def push(self, pcm: bytes, start_ns: int) -> list[tuple[bytes, int]]:
        if not self._pending:
            self._pending_ns = start_ns
        else:
            # trust the new frame's stamp over our running count (a gap means frames were lost)
            self._pending_ns = start_ns - self._ns(len(self._pending))
        self._pending += pcm
        chunks = []
        while len(self._pending) >= self.chunk_bytes:
            chunks.append((self._pending[: self.chunk_bytes], self._pending_ns))
            self._pending = self._pending[self.chunk_bytes:]
            self._pending_ns += self._ns(self.chunk_bytes)
        return chunks

    def _ns(self, byte_count: int) -> int:
        return byte_count // 2 * 1_000_000_000 // self.sample_rate


def _join(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
