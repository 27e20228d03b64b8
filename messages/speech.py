"""What the microphone heard: voice activity and transcripts."""

from __future__ import annotations

from typing import Literal

from messages.base import Message

__all__ = ["Transcript", "VadEvent", "Word"]


class VadEvent(Message, tag="speech.VadEvent"):
    """Voice activity (``speech/vad``): ``start`` as early as possible, ``end`` after the hangover."""

    event: Literal["start", "end"]
    utterance_id: str
    audio_ns: int = 0
    """Capture time of the speech onset (start) or end (end), ``time.time_ns()`` scale."""
    probability: float = 0.0


class Word(Message, tag="speech.Word"):
    """One recognised word with times in seconds from the start of the utterance."""

    text: str
    start: float
    end: float
    probability: float = 1.0


class Transcript(Message, tag="speech.Transcript"):
    """A partial (``speech/partial``) or final (``speech/final``) transcript of one utterance."""

    utterance_id: str
    text: str
    final: bool = False
    speaker: str = "unknown"
    start: float = 0.0
    end: float = 0.0
    words: list[Word] = []
    language: str = "en"
