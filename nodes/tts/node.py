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

from bus.errors import VtError
from bus.node import Node, NodeOptions, Trace
from bus.worker import Worker
from messages.audio import AudioChunk, PhonemeTiming
from messages.llm import Cancel, Sentence
from nodes.tts.backends import BACKENDS, SynthChunk, TtsBackend, join_threads
from nodes.tts.chunking import chunk_ranges, split_text
from nodes.tts.ordering import Push, SentenceQueue
from nodes.tts.params import Params
from nodes.tts.phonemes import window
from nodes.tts.voices import PersonaVoice, VoiceBook, backend_table

__all__ = ["TtsNode"]

Queued = tuple[tuple[Sentence, Trace | None], bool]
"""A sentence with the trace it came with, and whether it is its request's final one."""
Loaded = tuple[TtsBackend | None, str]
"""A backend, or None and why it failed to load."""

VOICE_PARAMETERS = ("voices", "backends", "default_backend", "fallback")
MAX_WARNED = 1024
"""Backend failures remembered as already logged (personas come from the bus)."""


class TtsNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("tts", options=options)
        self.params = self.declare_parameters(Params)
        self.voices = VoiceBook.from_parameters(
            self.params.voices, self.params.backends, self.params.default_backend,
            self.params.fallback)
        self.add_on_set_parameters_callback(self.on_set)
        self.queue: SentenceQueue[tuple[Sentence, Trace | None]] = SentenceQueue()
        self.worker: Worker[Queued] = Worker(self, self.queue.pop, self._speak_next,
                                             name="tts worker")
        self.audio = self.create_publisher(AudioChunk, "tts/audio")
        self.create_subscription(Sentence, "llm/sentence", self.on_sentence)
        self.create_subscription(Cancel, "llm/cancel", self.on_cancel)
        self.create_subscription(Cancel, "tts/cancel", self.on_cancel)
        self._loads: dict[str, asyncio.Task[Loaded]] = {}
        """backend name -> its load, started on first use (or at start, or after a set)"""
        self._retired: list[TtsBackend] = []
        """Backends replaced by a set, closed before the next sentence (one may be speaking)."""
        self._warned: set[tuple[str, str, str]] = set()
        self._speaking: tuple[str, asyncio.Task[None]] | None = None

    async def on_start(self) -> None:
        self.worker.start()
        self._preload()
        if self._loads:  # ready once the voices are: a first sentence would wait for them
            self.set_loading("voices")
            self.create_task(self._ready_when_loaded(), "ready")

    async def _ready_when_loaded(self) -> None:
        await asyncio.wait(list(self._loads.values()))
        self.set_loading("")

    def on_set(self, changes: dict[str, Any]) -> tuple[bool, str] | None:
        """A new voice book for new voices or backends (refused, and nothing changes, when
        any name or table is wrong); backends whose settings changed load anew."""
        if not changes.keys() & set(VOICE_PARAMETERS):
            return None
        new = {name: changes.get(name, getattr(self.params, name)) for name in VOICE_PARAMETERS}
        try:
            self.voices = VoiceBook.from_parameters(**new, keep=self.voices)
        except VtError as exc:
            return False, str(exc)
        old_tables, new_tables = self.params.backends, new["backends"]
        for name in set(old_tables) | set(new_tables):
            if old_tables.get(name) != new_tables.get(name):
                self._retire(name)
                self.voices.unavailable.discard(name)  # loaded anew: it may load now
        self._preload(new["fallback"])
        return None

    # ------------------------------------------------------------ callbacks

    def on_sentence(self, sentence: Sentence) -> None:
        if sentence.index < 0:
            self.report_bad_input(sentence.persona, "llm/sentence", f"negative index {sentence.index}")
            return
        verdict = self.queue.push(sentence.request_id, sentence.index,
                                  (sentence, self.current_trace()), final=sentence.final)
        if verdict != Push.QUEUED:
            self.counters[f"dropped_{verdict}"] += 1
        self.worker.wake()

    def on_cancel(self, cancel: Cancel) -> None:
        self.queue.cancel(cancel.request_id)
        if self._speaking is not None and cancel.request_id in ("", self._speaking[0]):
            self._speaking[1].cancel()
            self.counters["cancelled_mid_sentence"] += 1

    async def on_shutdown(self) -> None:
        await self.worker.stop()
        await join_threads()
        self._retired += [b for b in map(_loaded, self._loads.values()) if b is not None]
        await self._close_retired()

    # ------------------------------------------------------------ backends

    def _preload(self, fallback: str | None = None) -> None:
        """Start loading every backend the configuration names (a first sentence would wait
        seconds for Piper otherwise)."""
        fallback = self.params.fallback if fallback is None else fallback
        for name in sorted(self.voices.backends() | ({fallback} - {""})):
            self._load_task(name)

    def _load_task(self, name: str) -> asyncio.Task[Loaded]:
        task = self._loads.get(name)
        if task is None:
            task = self._loads[name] = self.create_task(self._load_now(name), f"load {name}")
        return task

    async def _load(self, name: str) -> Loaded:
        """The backend called ``name``, loaded (in a thread) on first use."""
        # shielded: a cancelled sentence must not cancel a load others wait for
        return await asyncio.shield(self._load_task(name))

    async def _load_now(self, name: str) -> Loaded:
        kind, settings = backend_table(name, self.params.backends)
        try:
            backend = await asyncio.to_thread(BACKENDS.load, kind, settings)
        except Exception as exc:  # TtsBackendError, or a backend's own bug: never the node's end
            reason = str(exc) if isinstance(exc, VtError) else f"{type(exc).__name__}: {exc}"
            fallback = self.params.fallback
            using = f"; personas on it speak with {fallback}" if fallback else ""
            moved = self.voices.backend_failed(name)
            if moved:  # a preset's choice, with the default backend to speak instead
                self.log.warning("TTS backend %s not used: %s; %s speak(s) with %s instead",
                                 name, reason, ", ".join(moved), self.voices.default_backend)
            else:
                self.log.error("TTS backend %s failed to load: %s%s", name, reason, using)
            return None, reason
        return backend, ""

    def _retire(self, name: str) -> None:
        """Forget the backend ``name`` (its settings changed): the next use loads it anew."""
        task = self._loads.pop(name, None)
        if task is not None:  # (still loading: retired once loaded)
            task.add_done_callback(lambda done: self._retired.extend(
                b for b in [_loaded(done)] if b is not None))

    async def _close_retired(self) -> None:
        while self._retired:
            backend = self._retired.pop()
            try:
                await backend.aclose()
            except Exception:
                self.report_callback_failure("closing a TTS backend")

    # ------------------------------------------------------------ work

    async def _speak_next(self, entry: Queued) -> None:
        (sentence, trace), _ = entry
        await self._close_retired()
        task = self.create_task(self._speak(sentence, trace), "speak")
        self._speaking = (sentence.request_id, task)
        try:
            await asyncio.wait([task])
        finally:
            self._speaking = None
            task.cancel()
        if not task.cancelled() and task.exception() is not None:
            self.log.error("speaking %s/%d failed: %s", sentence.request_id, sentence.index,
                           task.exception())

    async def _speak(self, sentence: Sentence, trace: Trace | None) -> None:
        with self.traced(trace):
            # a voice a preset chose that fails to load moves its persona to the default
            # backend (`VoiceBook.backend_failed`): resolved again once it is loaded
            await self._load(self.voices.resolve(sentence.persona).backend)
            voice = self.voices.resolve(sentence.persona)
            first = self.params.first_max_chars if sentence.index == 0 else 0
            text = sentence.text.strip()
            pieces = split_text(text, self.params.max_chars, first) if text else []
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

    async def _speak_piece(self, sentence: Sentence, piece: str, voice: PersonaVoice,
                           chunk_index: int) -> tuple[int, int]:
        """Synthesise one piece and publish it; on a backend failure before any audio, say
        so and speak it with the fallback. Returns the next chunk index and the rate."""
        attempts = [voice]
        fallback = self.params.fallback
        if fallback and voice.backend != fallback:
            attempts.append(self.voices.fallback(sentence.persona, fallback))
        rate = 0
        for attempt in attempts:
            name = attempt.backend
            backend, reason = await self._load(name)
            if backend is None:
                self._warn_once(sentence.persona, name, reason)
                continue
            sent_before = chunk_index
            try:
                async for synth in backend.synthesize(piece, attempt.options):
                    chunk_index = self._publish(sentence, synth, chunk_index)
                    rate = synth.sample_rate
                return chunk_index, rate
            except Exception as exc:  # TtsBackendError, or a backend's own bug: the show goes on
                self.counters[f"failed_{name}"] += 1
                self._warn_once(sentence.persona, name, f"it failed on {sentence.request_id}/"
                                f"{sentence.index}: {exc}", key=str(exc))
                if chunk_index != sent_before:  # part of it is out: repeating it would stutter
                    return chunk_index, rate
        self.counters["unspoken_pieces"] += 1
        return chunk_index, rate

    def _warn_once(self, persona: str, backend: str, reason: str, key: str = "") -> None:
        """Log a backend failure for a persona once per kind of failure (counters count all)."""
        if (persona, backend, key) in self._warned:
            return
        if len(self._warned) >= MAX_WARNED:
            self._warned.clear()
        self._warned.add((persona, backend, key))
        fallback = self.params.fallback
        speaking = f"; speaking with {fallback}" if fallback and fallback != backend else ""
        self.log.error("persona %s: TTS backend %s is unavailable (%s)%s", persona, backend,
                       reason, speaking)

    def _publish(self, sentence: Sentence, synth: SynthChunk, chunk_index: int) -> int:
        pcm = np.asarray(synth.pcm, dtype=np.int16)
        size = max(1, int(synth.sample_rate * self.params.chunk_ms / 1000))
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


def _loaded(task: asyncio.Task[Loaded]) -> TtsBackend | None:
    """The backend a finished load gave, if any."""
    if not task.done() or task.cancelled() or task.exception() is not None:
        return None
    return task.result()[0]
