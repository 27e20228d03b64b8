"""Raw audio on the bus: microphone frames, synthesised chunks, and what is audible now.

PCM travels as bytes with its sample rate, channel count and sample format beside it;
`messages.pcm` reads it (samples, frame counts) the same way for every node.
"""

from __future__ import annotations

from typing import Literal

from messages.base import Message

__all__ = [
    "AudioChunk", "AudioFrame", "PhonemeTiming", "Playhead", "SampleFormat", "SpeakerControl",
]

SampleFormat = Literal["s16le", "f32le"]


class AudioFrame(Message, tag="audio.AudioFrame"):
    """A short block of captured audio (``audio/mic``): 16 kHz mono s16le, 20-32 ms."""

    pcm: bytes
    sample_rate: int = 16000
    channels: int = 1
    format: SampleFormat = "s16le"
    source: str = ""
    start_ns: int = 0
    """Capture time of the first sample, ``time.time_ns()`` scale."""


class PhonemeTiming(Message, tag="audio.PhonemeTiming"):
    """One phoneme (or viseme) inside a chunk: from ``start_sample`` on, for ``samples``.

    ``phoneme`` is IPA: one character each from Piper (stress marks ``ˈ`` included, ``" "``
    between words, ``^``/``$`` at the start and end of a piece); a whole phoneme each from
    espeak-ng (``oʊ``), ``" "`` for its pauses.
    """

    phoneme: str
    start_sample: int
    samples: int


class AudioChunk(Message, tag="tts.AudioChunk"):
    """Synthesised speech for one sentence, in pieces (``tts/audio``).

    ``request_id`` + ``sentence_index`` + ``chunk_index`` order the audio; ``last`` closes a
    sentence and ``final`` closes the whole request. ``pcm`` may be empty on a closing chunk.
    """

    persona: str
    request_id: str
    sentence_index: int
    chunk_index: int
    pcm: bytes
    sample_rate: int
    channels: int = 1
    format: SampleFormat = "s16le"
    text: str = ""
    emotion: str = ""
    phonemes: list[PhonemeTiming] = []
    last: bool = False
    final: bool = False


class Playhead(Message, tag="audio.Playhead"):
    """What is audible right now (``audio/playhead``), corrected for the output latency.

    ``sample`` counts samples of this sentence heard so far; ``state`` is ``playing``,
    ``finished`` (the sentence was heard to the end), ``cut`` (stopped early) or ``idle``.
    """

    persona: str
    request_id: str
    sentence_index: int
    sample: int
    sample_rate: int
    state: Literal["playing", "finished", "cut", "idle"] = "playing"
    text: str = ""
    audible_ns: int = 0
    """When ``sample`` is (or was) heard, ``time.time_ns()`` scale."""


class SpeakerControl(Message, tag="audio.SpeakerControl"):
    """Silence the speaker (``audio/control``): ``stop`` everything, or one ``request_id``."""

    action: Literal["stop", "pause", "resume"] = "stop"
    request_id: str = ""
    reason: str = ""
