"""What the microphone heard: voice activity and transcripts."""

from __future__ import annotations

from typing import Literal

from messages.base import Message

__all__ = ["Transcript", "VadEvent", "Word"]


class VadEvent(Message, tag="speech.VadEvent"):
    """Voice activity (``speech/vad``): ``start`` as early as possible, ``end`` after a hangover."""

    event: Literal["start", "end"]
    utterance_id: str
    audio_ns: int = 0
    """Capture time of the speech onset (start) or end (end), ``time.time_ns()`` scale."""
    probability: float = 0.0


class Word(Message, tag="speech.Word"):
    """One recognised word with times in seconds from the transcript's ``audio_ns``."""

    text: str
    start: float
    end: float
    probability: float = 1.0


class Transcript(Message, tag="speech.Transcript"):
    """A partial (``speech/partial``) or final (``speech/final``) transcript of one utterance.

    Every utterance that started (``speech/vad``) ends with one final; its ``text`` is empty
    when no person's words were in it (a noise, the personas' own voices).

    ``start`` and ``end`` (the speech) and the word times are seconds from ``audio_ns``.
    """

    utterance_id: str
    text: str
    final: bool = False
    speaker: str = "unknown"
    start: float = 0.0
    end: float = 0.0
    words: list[Word] = []
    language: str = "en"
    audio_ns: int = 0
    """Capture time of the first sample of the audio transcribed, ``time.time_ns()`` scale."""
    speaker_score: float = 0.0
    """Similarity to the named speaker's enrolled voice (to the closest one when unknown)."""
