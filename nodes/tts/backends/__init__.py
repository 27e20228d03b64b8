"""Speech synthesis backends behind one small Protocol.

Each backend is one file with a typed settings Struct, heavy imports inside it, its model
loaded in the constructor and blocking inference in a thread. It turns one piece of text,
spoken with one persona's `VoiceSettings`, into an async stream of `SynthChunk`.

Backends (``load_backend(name, settings)``):

- ``piper``: the bundled Piper voice (en_US joe), per-phoneme timings from its alignments.
- ``espeak``: espeak-ng through ``libespeak-ng.so.1``, phoneme events; the zero-weight fallback.
- ``styletts2``: StyleTTS2 on a GPU from local weights, a reference style per persona.
- ``fish_speech``: a Fish Speech HTTP API server, reference audio per persona.
- ``tone``: a zero-time stand-in (a tone as long as the text), for benchmarks and dry runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec
import numpy as np

from nodes.tts.phonemes import PhonemeSpan

__all__ = [
    "BACKENDS",
    "BackendError",
    "SynthChunk",
    "TtsBackend",
    "VoiceSettings",
    "join_threads",
    "load_backend",
    "stream_from_thread",
]


class BackendError(Exception):
    """A backend cannot load or cannot synthesise; the message says why and what to do."""


@dataclass(frozen=True)
class SynthChunk:
    """A piece of synthesised speech: mono int16 samples and the phonemes heard in them
    (``PhonemeSpan.start`` relative to this chunk)."""

    pcm: np.ndarray
    sample_rate: int
    phonemes: list[PhonemeSpan] = field(default_factory=list)


class VoiceSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How one persona sounds: its backend and that backend's voice options.

    Fields a backend does not use are ignored by it.
    """

    backend: str = "piper"
    """A key of the node's ``backends`` parameter, or a backend name."""
    voice: str = ""
    """piper: a model path (empty: the bundled joe); espeak: a voice name (``en-us``);
    styletts2: a reference WAV for the style; fish_speech: a server-side ``reference_id``."""
    reference_audio: str = ""
    """fish_speech: a WAV of the voice to clone, sent with each request."""
    reference_text: str = ""
    """fish_speech: what is said in ``reference_audio``."""
    speaker_id: int = -1
    """piper: speaker of a multi-speaker model (-1: the model's default)."""
    length_scale: float = 1.0
    """piper: > 1 speaks slower."""
    noise_scale: float = -1.0
    """piper: generator noise (-1: the model's default)."""
    noise_w_scale: float = -1.0
    """piper: phoneme width noise (-1: the model's default)."""
    rate: int = 175
    """espeak: words per minute."""
    pitch: int = 50
    """espeak: 0-100."""
    alpha: float = 0.3
    """styletts2: timbre, 0 = the reference's, 1 = the text's."""
    beta: float = 0.7
    """styletts2: prosody, 0 = the reference's, 1 = the text's."""
    fallback_voice: str = "en-us"
    """The espeak voice this persona speaks with when its own backend fails."""


class TtsBackend(Protocol):
    """What every backend offers."""

    name: str

    def synthesize(self, text: str, voice: VoiceSettings) -> AsyncIterator[SynthChunk]:
        """Speak ``text`` as ``voice``; chunks come as soon as they exist.

        Raises `BackendError` when the speech cannot be made (server down, bad voice).
        Closing the iterator early stops the synthesis as soon as the backend can.
        """
        ...

    async def aclose(self) -> None:
        """Release the model, threads and connections."""
        ...


BACKENDS: dict[str, str] = {
    "piper": "nodes.tts.backends.piper:PiperBackend",
    "espeak": "nodes.tts.backends.espeak:EspeakBackend",
    "styletts2": "nodes.tts.backends.styletts2:StyleTTS2Backend",
    "fish_speech": "nodes.tts.backends.fish_speech:FishSpeechBackend",
    "tone": "nodes.tts.backends.tone:ToneBackend",
}
"""Backend kind -> ``module:class``; modules are imported only when that kind is used."""


def load_backend(kind: str, settings: dict[str, Any] | None = None) -> TtsBackend:
    """Build the backend ``kind`` with ``settings`` (its settings Struct, as a dict).

    Raises
    ------
    BackendError
        Unknown kind, bad settings, a missing package or model, an unreachable server.
    """
    target = BACKENDS.get(kind)
    if target is None:
        raise BackendError(f"unknown TTS backend {kind!r}; known: {', '.join(BACKENDS)}")
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        typed = msgspec.convert(settings or {}, cls.Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise BackendError(f"{kind} settings: {exc}") from None
    backend: TtsBackend = cls(typed)
    return backend


T = TypeVar("T")
Produce = Callable[[Callable[[T], None], Callable[[], bool]], None]
"""``produce(emit, stopped)`` runs blocking inference, calls ``emit(item)`` for each result
and gives up as soon as ``stopped()`` is true."""

_END = object()
_live_threads: set[threading.Thread] = set()
"""Synthesis threads still running: a cancelled request leaves its thread to finish its
current step, and a process must not exit under a running inference (onnxruntime aborts)."""


async def stream_from_thread(produce: Produce[T], what: str) -> AsyncIterator[T]:
    """Run ``produce`` in its own thread and yield what it emits, as it emits it.

    Closing the iterator (a cancelled request) makes ``stopped()`` true, so the thread stops
    at its next check instead of rendering audio nobody will hear.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any, exc: BaseException | None = None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under a late thread
            loop.call_soon_threadsafe(queue.put_nowait, (item, exc))

    def work() -> None:
        try:
            produce(put, stop.is_set)
        except BaseException as exc:  # handed to the awaiting side, which re-raises it
            put(_END, exc)
        else:
            put(_END)
        finally:
            _live_threads.discard(threading.current_thread())

    thread = threading.Thread(target=work, name=what, daemon=True)
    _live_threads.add(thread)
    thread.start()
    try:
        while True:
            item, exc = await queue.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()


async def join_threads(timeout: float = 5.0) -> None:
    """Wait (up to ``timeout`` seconds) for synthesis threads left running by cancels."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for thread in list(_live_threads):
        await asyncio.to_thread(thread.join, max(0.0, deadline - loop.time()))
