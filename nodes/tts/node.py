"""The TTS node: ``llm/sentence`` in, ``tts/audio`` out, one persona voice each.

Sentences are spoken one at a time, in order per request, oldest request first. Long
sentences are cut into pieces (the first piece of a reply shorter, for a quick first
sound); audio leaves in chunks of ``chunk_ms``. ``llm/cancel`` or ``tts/cancel`` drops
everything queued for the request and stops the piece being synthesised.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from bus.node import Node, NodeOptions, Trace
from messages.audio import AudioChunk, PhonemeTiming
from messages.llm import Cancel, Sentence
from nodes.tts.backends import (
    BackendError,
    SynthChunk,
    TtsBackend,
    VoiceSettings,
    join_threads,
    load_backend,
)
from nodes.tts.chunking import chunk_ranges, split_text
from nodes.tts.ordering import Push, SentenceQueue
from nodes.tts.phonemes import window
from nodes.tts.voices import VoiceBook, parse_voices

__all__ = ["TtsNode"]


class TtsNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("tts", options=options)
        voices = self.declare_parameter(
            "voices", {}, "persona -> {backend, voice, length_scale, fallback_voice, ...} "
            "(nodes/tts/backends VoiceSettings); unnamed personas get the presets in turn")
        self.backend_settings: dict[str, Any] = self.declare_parameter(
            "backends", {}, "backend name -> its settings; a name other than a kind says "
            "its kind in 'kind' (e.g. {\"fish\": {\"kind\": \"fish_speech\", \"url\": ...}})")
        default_backend = self.declare_parameter(
            "default_backend", "piper", "backend of personas not in voices")
        self.fallback = self.declare_parameter(
            "fallback", "espeak", "backend used when a persona's own fails ('' for none)")
        self.chunk_ms = self.declare_parameter("chunk_ms", 40.0, "audio per tts/audio chunk")
        self.max_chars = self.declare_parameter("max_chars", 160, "longest piece synthesised")
        self.first_max_chars = self.declare_parameter(
            "first_max_chars", 40, "longest first piece of a reply (0: as max_chars)")
        self.voices = VoiceBook(parse_voices(voices), default_backend)
        self.queue: SentenceQueue[tuple[Sentence, Trace | None]] = SentenceQueue()
        self.audio = self.create_publisher(AudioChunk, "tts/audio")
        self.create_subscription(Sentence, "llm/sentence", self.on_sentence)
        self.create_subscription(Cancel, "llm/cancel", self.on_cancel)
        self.create_subscription(Cancel, "tts/cancel", self.on_cancel)
        self._backends: dict[str, TtsBackend] = {}
        self._failed: dict[str, str] = {}
        self._warned: set[tuple[str, str, str]] = set()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._speaking: tuple[str, asyncio.Task[None]] | None = None

    async def start(self) -> None:
        await super().start()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="tts worker")

    # ------------------------------------------------------------ callbacks

    def on_sentence(self, sentence: Sentence) -> None:
        if sentence.index < 0:
            self.report_bad_input(sentence.persona, "llm/sentence", f"negative index {sentence.index}")
            return
        verdict = self.queue.push(sentence.request_id, sentence.index,
                                  (sentence, self.current_trace()), final=sentence.final)
        if verdict != Push.QUEUED:
            self.counters[f"dropped_{verdict}"] += 1
        self._wake.set()

    def on_cancel(self, cancel: Cancel) -> None:
        self.queue.cancel(cancel.request_id)
        if self._speaking is not None and cancel.request_id in ("", self._speaking[0]):
            self._speaking[1].cancel()
            self.counters["cancelled_mid_sentence"] += 1

    async def on_shutdown(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        await join_threads()
        for backend in self._backends.values():
            await backend.aclose()

    # ------------------------------------------------------------ work

    async def _work(self) -> None:
        for name in sorted(self.voices.backends() | ({self.fallback} - {""})):
            await self._load(name)
        while True:
            entry = self.queue.pop()
            if entry is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            (sentence, trace), _ = entry
            task = asyncio.get_running_loop().create_task(self._speak(sentence, trace))
            self._speaking = (sentence.request_id, task)
            try:
                await asyncio.wait([task])
            finally:
                self._speaking = None
                task.cancel()
            if not task.cancelled() and task.exception() is not None:
                self.log.error("speaking %s/%d failed: %s", sentence.request_id, sentence.index,
                               task.exception())

    async def _load(self, name: str) -> TtsBackend | None:
        """The backend called ``name``, loaded (in a thread) on first use; None if it failed."""
        if name in self._backends:
            return self._backends[name]
        if name in self._failed:
            return None
        settings = dict(self.backend_settings.get(name, {}))
        kind = settings.pop("kind", name)
        try:
            backend = await asyncio.to_thread(load_backend, kind, settings)
        except Exception as exc:  # BackendError, or a backend's own bug: never the node's end
            if not isinstance(exc, BackendError):
                exc = BackendError(f"{type(exc).__name__}: {exc}")
            self._failed[name] = str(exc)
            using = f"; personas on it speak with {self.fallback}" if self.fallback else ""
            self.log.error("TTS backend %s failed to load: %s%s", name, exc, using)
            return None
        self._backends[name] = backend
        return backend

    async def _speak(self, sentence: Sentence, trace: Trace | None) -> None:
        with self.traced(trace):
            voice = self.voices.resolve(sentence.persona)
            first = self.first_max_chars if sentence.index == 0 else 0
            text = sentence.text.strip()
            pieces = split_text(text, self.max_chars, first) if text else []
            chunk_index, rate = 0, 0
            for piece in pieces:
                chunk_index, piece_rate = await self._speak_piece(sentence, piece, voice,
                                                                  chunk_index)
                rate = piece_rate or rate
            self.audio.publish(AudioChunk(
                persona=sentence.persona, request_id=sentence.request_id,
                sentence_index=sentence.index, chunk_index=chunk_index, pcm=b"",
                sample_rate=rate or 22050, last=True, final=sentence.final,
                text=sentence.text if chunk_index == 0 else "", emotion=sentence.emotion,
            ))

    async def _speak_piece(self, sentence: Sentence, piece: str, voice: VoiceSettings,
                           chunk_index: int) -> tuple[int, int]:
        """Synthesise one piece and publish it; on a backend failure before any audio, say
        so and speak it with the fallback. Returns the next chunk index and the rate."""
        attempts = [(voice.backend, voice)]
        if self.fallback and voice.backend != self.fallback:
            attempts.append((self.fallback, self.voices.fallback(sentence.persona, self.fallback)))
        rate = 0
        for name, attempt_voice in attempts:
            backend = await self._load(name)
            if backend is None:
                self._warn_once(sentence.persona, name, self._failed.get(name, ""))
                continue
            sent_before = chunk_index
            try:
                async for synth in backend.synthesize(piece, attempt_voice):
                    chunk_index = self._publish(sentence, synth, chunk_index)
                    rate = synth.sample_rate
                return chunk_index, rate
            except Exception as exc:  # BackendError, or a backend's own bug: the show goes on
                self.counters[f"failed_{name}"] += 1
                self._warn_once(sentence.persona, name, f"it failed on {sentence.request_id}/"
                                f"{sentence.index}: {exc}", key=str(exc))
                if chunk_index != sent_before:  # part of it is out: repeating it would stutter
                    return chunk_index, rate
        self.counters["unspoken_pieces"] += 1
        return chunk_index, rate

    def _warn_once(self, persona: str, backend: str, reason: str, key: str = "") -> None:
        """Log a backend failure for a persona once per kind of failure (counters count all)."""
        if (persona, backend, key) not in self._warned:
            self._warned.add((persona, backend, key))
            fallback = f"; speaking with {self.fallback}" if self.fallback != backend else ""
            self.log.error("persona %s: TTS backend %s is unavailable (%s)%s", persona, backend,
                           reason, fallback)

    def _publish(self, sentence: Sentence, synth: SynthChunk, chunk_index: int) -> int:
        pcm = np.asarray(synth.pcm, dtype=np.int16)
        size = max(1, int(synth.sample_rate * self.chunk_ms / 1000))
        for start, end in chunk_ranges(len(pcm), size):
            self.audio.publish(AudioChunk(
                persona=sentence.persona, request_id=sentence.request_id,
                sentence_index=sentence.index, chunk_index=chunk_index,
                pcm=pcm[start:end].tobytes(), sample_rate=synth.sample_rate,
                text=sentence.text if chunk_index == 0 else "", emotion=sentence.emotion,
                phonemes=[PhonemeTiming(phoneme=s.phoneme, start_sample=s.start, samples=s.samples)
                          for s in window(synth.phonemes, start, end)],
            ))
            chunk_index += 1
        return chunk_index
