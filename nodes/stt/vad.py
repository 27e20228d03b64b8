"""Voice activity from per-chunk speech probabilities: hysteresis, a start run, and a hangover.

Silero gives a probability per 32 ms chunk and nothing else; this state machine turns them into
events. Speech *starts* after ``start_chunks`` chunks in a row at or above ``start_threshold``
(onset = the first of them), so a click does not stop the personas but a word does within about
two chunks; a chunk at or above ``start_alone_threshold`` (when set) starts speech on its own,
one chunk (32 ms) sooner. Once speaking, only a probability below ``end_threshold`` counts as quiet (the band
between the two thresholds keeps the state, which stops flapping on soft syllables). The first
quiet chunk is a `Pause`: the speech *may* have ended, so the final transcription can start now.
Speech back at ``start_threshold`` is a `Resume`; ``hangover_ms`` of quiet is the `End`.

A chunk may come *masked*: its probability was zeroed because the personas' echo was louder
than anything else in it (`nodes.stt.echo`). A person's short pause and soft syllables hide
under the echo that way, so masked chunks count half towards the hangover: while the personas
talk over someone, that person's utterance needs twice the quiet to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["End", "Pause", "Resume", "Start", "Transition", "Vad", "VadSettings"]


@dataclass(frozen=True)
class VadSettings:
    """Thresholds and timings; probabilities in [0, 1], times in milliseconds."""

    start_threshold: float = 0.5
    end_threshold: float = 0.35
    start_chunks: int = 2
    hangover_ms: float = 400.0
    start_alone_threshold: float = 0.0
    """A chunk this sure starts speech by itself (0: never, ``start_chunks`` always)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.end_threshold <= self.start_threshold < 1.0:
            raise ValueError(
                "VAD thresholds need 0 < end_threshold <= start_threshold < 1, got "
                f"end {self.end_threshold}, start {self.start_threshold}")
        if self.start_chunks < 1:
            raise ValueError(f"start_chunks must be at least 1, got {self.start_chunks}")
        if self.start_alone_threshold and not \
                self.start_threshold <= self.start_alone_threshold <= 1.0:
            raise ValueError(
                "start_alone_threshold must be 0 (off) or from start_threshold "
                f"{self.start_threshold} to 1, got {self.start_alone_threshold}")
        if self.hangover_ms < 0:
            raise ValueError(f"hangover_ms must not be negative, got {self.hangover_ms}")


@dataclass(frozen=True)
class Start:
    """Speech began at chunk ``onset``."""

    onset: int
    probability: float


@dataclass(frozen=True)
class Pause:
    """Chunk ``end`` was the first quiet one: speech may have ended there."""

    end: int


@dataclass(frozen=True)
class Resume:
    """Speech came back during the hangover: the pause was not the end."""


@dataclass(frozen=True)
class End:
    """The hangover ran out: speech ended at chunk ``end`` (exclusive)."""

    end: int
    probability: float


Transition = Start | Pause | Resume | End


class _State(Enum):
    SILENCE = "silence"
    SPEECH = "speech"
    HANGOVER = "hangover"


class Vad:
    """Feed one probability per chunk; get the transition it causes, if any.

    Parameters
    ----------
    settings:
        Thresholds and timings.
    chunk_ms:
        Length of one chunk (Silero: 512 samples at 16 kHz = 32 ms).
    """

    def __init__(self, settings: VadSettings, chunk_ms: float):
        self.chunk_ms = chunk_ms
        self.configure(settings)
        self.index = -1
        """Index of the last chunk fed."""
        self._state = _State.SILENCE
        self._run = 0
        self._quiet = 0.0
        self._speech_end = 0

    def configure(self, settings: VadSettings) -> None:
        """Thresholds and timings from the next chunk on; an utterance under way goes on
        under the new ones."""
        self.settings = settings
        self.hangover_chunks = max(1, round(settings.hangover_ms / self.chunk_ms))

    @property
    def speaking(self) -> bool:
        """Inside an utterance (speaking or in its hangover)."""
        return self._state is not _State.SILENCE

    def update(self, probability: float, *, masked: bool = False) -> Transition | None:
        """The transition caused by the next chunk's speech probability (``masked``: zeroed
        because only the echo could be heard in it)."""
        self.index += 1
        s = self.settings
        if self._state is _State.SILENCE:
            self._run = self._run + 1 if probability >= s.start_threshold else 0
            alone = 0.0 < s.start_alone_threshold <= probability
            if self._run >= s.start_chunks or alone:
                self._state = _State.SPEECH
                return Start(onset=self.index - self._run + 1, probability=probability)
        elif self._state is _State.SPEECH:
            if probability < s.end_threshold:
                self._state = _State.HANGOVER
                self._quiet = 0.5 if masked else 1.0
                self._speech_end = self.index
                return self._end_if_over(probability) or Pause(end=self.index)
        elif probability >= s.start_threshold:
            self._state = _State.SPEECH
            return Resume()
        else:
            self._quiet += 0.5 if masked else 1.0
            return self._end_if_over(probability)
        return None

    def force_end(self) -> End | None:
        """End the utterance now (it ran too long); None when not speaking."""
        if self._state is _State.SILENCE:
            return None
        end = self._speech_end if self._state is _State.HANGOVER else self.index + 1
        self._reset()
        return End(end=end, probability=0.0)

    def _end_if_over(self, probability: float) -> End | None:
        if self._quiet < self.hangover_chunks:
            return None
        self._reset()
        return End(end=self._speech_end, probability=probability)

    def _reset(self) -> None:
        self._state = _State.SILENCE
        self._run = 0
        self._quiet = 0.0
