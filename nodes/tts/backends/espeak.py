"""espeak-ng through ``libespeak-ng.so.1``: robotic, needs no weights, streams in ~10 ms.

The library calls back with blocks of samples and events; phoneme events carry the sample at
which each phoneme starts and its IPA name (``oʊ``, ``ð``; pauses become ``" "``). Its state
is global to the process, so one synthesis runs at a time.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import msgspec
import numpy as np

from nodes.tts.backends import SynthChunk, TtsBackendError, stream_from_thread
from nodes.tts.phonemes import spans_from_starts, window

__all__ = ["EspeakBackend", "EspeakSettings", "EspeakVoiceOptions"]

LIBRARY = "libespeak-ng.so.1"  # ctypes.util.find_library misses it: load the soname
_AUDIO_OUTPUT_RETRIEVAL = 1
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002  # phoneme names in IPA, as Piper's
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class EspeakSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    buffer_ms: int = 60
    """How much audio each callback delivers: smaller means earlier first audio."""
    data_path: str = ""
    """An espeak-ng-data folder (empty: the system's)."""


class EspeakVoiceOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How one persona sounds on espeak-ng."""

    voice: str = ""
    """An espeak-ng voice (``en-us``, ``en-us+f3``; empty: ``en-us``)."""
    rate: int = 175
    """Words per minute."""
    pitch: int = 50
    """0-100."""


class EspeakBackend:
    """espeak-ng voices (``en-us``, ``en-gb``, ``en-us+f3`` ...), with phoneme events."""

    name = "espeak"
    Settings = EspeakSettings
    Voice = EspeakVoiceOptions
    _lock = threading.Lock()  # espeak-ng keeps one global synthesiser per process
    _initialized: ClassVar[dict[tuple[int, str], int]] = {}
    """(buffer_ms, data_path) -> sample rate: espeak-ng is initialised once per process (a
    second espeak_Initialize after espeak_Terminate hangs)."""

    def __init__(self, settings: EspeakSettings):
        try:
            self._lib = ctypes.CDLL(LIBRARY)
        except OSError as exc:
            raise TtsBackendError(
                f"espeak backend needs {LIBRARY}: apt-get install libespeak-ng1 espeak-ng ({exc})"
            ) from None
        key = (settings.buffer_ms, settings.data_path)
        with self._lock:
            if self._initialized and key not in self._initialized:
                raise TtsBackendError(f"espeak-ng is already initialised with {self._initialized}"
                                   f" in this process; {key} cannot be used as well")
            rate = self._initialized.get(key, 0)
            if not rate:
                rate = self._lib.espeak_Initialize(
                    _AUDIO_OUTPUT_RETRIEVAL, settings.buffer_ms,
                    settings.data_path.encode() or None,
                    _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA,
                )
                if rate > 0:
                    self._initialized[key] = rate
        if rate <= 0:
            raise TtsBackendError(f"espeak_Initialize failed ({rate}): is espeak-ng-data installed?")
        self.sample_rate = int(rate)

    async def synthesize(self, text: str, voice: EspeakVoiceOptions) -> AsyncIterator[SynthChunk]:
        name = (voice.voice or "en-us").encode()
        data = text.encode() + b"\0"

        def produce(emit: Callable[[SynthChunk], None], stopped: Callable[[], bool]) -> None:
            emitted = 0
            pending: list[np.ndarray] = []
            events: list[tuple[str, int]] = []

            def flush(end: int) -> None:
                nonlocal emitted
                pcm = np.concatenate(pending) if pending else np.zeros(0, np.int16)
                pending.clear()
                spans = window(spans_from_starts(events, end), emitted, emitted + len(pcm))
                emitted += len(pcm)
                # keep the phoneme still sounding and those announced for later blocks
                started = [i for i, (_, start) in enumerate(events) if start < emitted]
                if started:
                    del events[: started[-1]]
                emit(SynthChunk(pcm, self.sample_rate, spans))

            def on_audio(wav: Any, count: int, event: Any) -> int:
                i = 0
                while event[i].type != _EVENT_LIST_TERMINATED:
                    if event[i].type == _EVENT_PHONEME:
                        # a pause has no name: call it a word gap, as Piper does
                        phoneme = event[i].id.string.decode(errors="replace") or " "
                        start = max(event[i].sample, events[-1][1] if events else 0)
                        events.append((phoneme, start))
                    i += 1
                if count > 0:
                    pending.append(np.ctypeslib.as_array(wav, (count,)).copy())
                    flush(emitted + sum(len(p) for p in pending))
                return 1 if stopped() else 0

            callback = _Callback(on_audio)
            with self._lock:
                self._lib.espeak_SetSynthCallback(callback)
                if self._lib.espeak_SetVoiceByName(name) != 0:
                    raise TtsBackendError(
                        f"espeak-ng has no voice {name.decode()!r} (list them: espeak-ng --voices)"
                    )
                self._lib.espeak_SetParameter(_PARAM_RATE, voice.rate, 0)
                self._lib.espeak_SetParameter(_PARAM_PITCH, voice.pitch, 0)
                status = self._lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
                self._lib.espeak_Synchronize()
            if status != 0 and not stopped():
                raise TtsBackendError(f"espeak_Synth failed with status {status}")

        async for item in stream_from_thread(produce, "espeak"):
            yield item

    async def aclose(self) -> None:
        """Nothing to release: the library stays initialised for the process's lifetime."""
