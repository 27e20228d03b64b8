"""Hears ``audio/mic``: voice activity on ``speech/vad`` at once, transcripts on
``speech/partial`` and ``speech/final``, never for the personas' own voices."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from bus.errors import ParameterError, PcmError
from bus.node import Node, NodeOptions, Trace
from bus.worker import Worker
from messages.audio import AudioChunk, AudioFrame, Playhead
from messages.base import Header
from messages.pcm import decode_mono, frame_count
from messages.speech import Transcript, VadEvent, Word
from nodes.stt.backends import RECOGNISERS, SPEAKER_EMBEDDERS, VOICE_ACTIVITY
from nodes.stt.echo import EchoGate, ReferenceTimeline, is_echo_text, masked_by_echo
from nodes.stt.params import Params
from nodes.stt.settings import (
    echo_settings,
    load_backend,
    stream_settings,
    vad_settings,
)
from nodes.stt.speakers import UNKNOWN, SpeakerLabeler
from nodes.stt.streaming import (
    Job,
    Rechunker,
    Recognition,
    Result,
    Segmenter,
    VoiceEnd,
    VoiceStart,
)
from nodes.stt.vad import Vad

SAMPLE_RATE = 16000
AUDIO_WATCH_S = 0.1
"""How often the node checks that audio still comes (`Params.audio_gap_ms`)."""
NO_SPEAKER = "none"
"""``speaker_backend`` value that labels everyone ``unknown`` (no embedding at all)."""


class SttNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("stt", options=options)
        self.params = self.declare_parameters(Params)
        try:
            vad = vad_settings(self.params)
        except ValueError as exc:
            raise ParameterError(f"stt: {exc}") from None
        self.vad_backend = load_backend(VOICE_ACTIVITY, self.params.vad_backend, self.params,
                                        prefix="vad_")
        chunk = self.vad_backend.chunk_samples
        self.segmenter = Segmenter(Vad(vad, chunk * 1000 / SAMPLE_RATE),
                                   stream_settings(self.params), chunk_samples=chunk,
                                   sample_rate=SAMPLE_RATE,
                                   new_id=lambda: f"utt-{uuid.uuid4().hex[:12]}")
        self.rechunker = Rechunker(chunk, SAMPLE_RATE)
        echo = echo_settings(self.params)
        self.reference = ReferenceTimeline(echo)
        self.gate = EchoGate(echo)
        self.recogniser = load_backend(RECOGNISERS, self.params.recogniser, self.params)
        self.labeler = self._speaker_labeler()
        self.add_on_set_parameters_callback(self._apply)
        self.vad_pub = self.create_publisher(VadEvent, "speech/vad")
        self.partial_pub = self.create_publisher(Transcript, "speech/partial")
        self.final_pub = self.create_publisher(Transcript, "speech/final")
        self.create_subscription(AudioFrame, "audio/mic", self.on_frame)
        self.create_subscription(AudioChunk, "tts/audio", self.on_tts_audio)
        self.create_subscription(Playhead, "audio/playhead", self.on_playhead)
        self._traces: dict[str, Trace] = {}
        """Per utterance: its trace (id = utterance id, stamp = speech onset)."""
        # the segmenter says which job is due; each runs as its own task, so a final starts
        # beside a running partial instead of waiting for it
        self.jobs = Worker(self, self.segmenter.next_job, self._start_job, name="transcribe")
        self._last_frame = time.monotonic()
        # mic frames come every 20-32 ms: a tenth of a second notices a stopped source soon
        self.create_timer(AUDIO_WATCH_S, self._watch_audio)

    def _speaker_labeler(self) -> SpeakerLabeler | None:
        params = self.params
        if params.speaker_backend == NO_SPEAKER or not params.enrol_wav:
            return None
        embedder = load_backend(SPEAKER_EMBEDDERS, params.speaker_backend, params,
                                prefix="speaker_")
        from faster_whisper.audio import decode_audio

        labeler = SpeakerLabeler(embedder, params.speaker_threshold or None, SAMPLE_RATE)
        try:
            labeler.enrol(params.speaker_name,
                          np.asarray(decode_audio(params.enrol_wav, sampling_rate=SAMPLE_RATE)))
        except (OSError, ValueError) as exc:  # no such file, not audio, silence
            raise ParameterError(f"stt: cannot enrol {params.speaker_name} from enrol_wav "
                                 f"{params.enrol_wav}: {exc}") from None
        self.log.info("enrolled %s from %s (%s embeddings)", params.speaker_name,
                      params.enrol_wav, params.speaker_backend)
        return labeler

    def _apply(self, changes: dict[str, Any]) -> tuple[bool, str] | None:
        """A run-time set: the VAD, the segmenter, the echo gate and the speaker threshold
        take the new values from the next chunk on (the rest is read where it is used)."""
        new = msgspec.structs.replace(self.params, **changes)
        try:
            vad = vad_settings(new)
        except ValueError as exc:
            return False, f"stt: {exc}"
        self.segmenter.configure(stream_settings(new), vad)
        echo = echo_settings(new)
        self.reference.settings = echo
        self.gate.configure(echo)
        if self.labeler is not None:
            self.labeler.threshold = (new.speaker_threshold
                                      or self.labeler.embedder.default_threshold)
        return None

    async def on_start(self) -> None:
        self.jobs.start()

    # ------------------------------------------------------------ inputs

    def on_frame(self, frame: AudioFrame, header: Header) -> None:
        if (frame.sample_rate, frame.channels, frame.format) != (SAMPLE_RATE, 1, "s16le"):
            self.report_bad_input(header.publisher, "audio/mic",
                                  f"frames must be {SAMPLE_RATE} Hz mono s16le, got "
                                  f"{frame.sample_rate} Hz x{frame.channels} {frame.format}")
            return
        try:
            frame_count(frame.pcm, frame.format, frame.channels)
        except PcmError as exc:
            self.report_bad_input(header.publisher, "audio/mic", str(exc))
            return
        self._last_frame = time.monotonic()
        for pcm, start_ns in self.rechunker.push(frame.pcm, frame.start_ns):
            self._on_chunk(pcm, start_ns)
        self.jobs.wake()

    def _watch_audio(self) -> None:
        """No frame for ``audio_gap_ms`` while someone was talking: the audio stopped (a WAV
        that ended mid-sentence, a microphone unplugged). End the utterance as the hangover
        would have, so its words still come and the director does not wait for an end that
        no chunk will bring (it keeps the floor for a speaking human)."""
        if (not self.segmenter.vad.speaking
                or time.monotonic() - self._last_frame < self.params.audio_gap_ms / 1000):
            return
        events = self.segmenter.end_now()
        self.log.info("audio/mic stopped mid-utterance: ended it after %.0f ms without audio",
                      self.params.audio_gap_ms)
        self._publish_events(events)
        self.jobs.wake()

    def on_tts_audio(self, chunk: AudioChunk, header: Header) -> None:
        if chunk.sample_rate <= 0:
            self.report_bad_input(header.publisher, "tts/audio",
                                  "reference audio must be at a positive rate, got "
                                  f"{chunk.sample_rate} Hz")
            return
        try:
            samples = decode_mono(chunk.pcm, chunk.format, chunk.channels)
        except PcmError as exc:
            self.report_bad_input(header.publisher, "tts/audio", f"reference audio: {exc}")
            return
        self.reference.add_audio(chunk.request_id, chunk.sentence_index, samples,
                                 chunk.sample_rate, text=chunk.text, last=chunk.last)

    def on_playhead(self, playhead: Playhead, header: Header) -> None:
        if playhead.sample_rate <= 0:
            self.report_bad_input(header.publisher, "audio/playhead",
                                  f"sample_rate must be positive, got {playhead.sample_rate}")
            return
        self.reference.on_playhead(playhead.request_id, playhead.sentence_index, playhead.sample,
                                   playhead.sample_rate, playhead.state, playhead.audible_ns,
                                   text=playhead.text)

    def _on_chunk(self, pcm: bytes, start_ns: int) -> None:
        probability = self.vad_backend.probability(pcm)
        samples = decode_mono(pcm, "s16le", 1)
        masked = masked_by_echo(samples, start_ns, start_ns + self.segmenter.chunk_ns,
                                self.reference, self.gate, speaking=self.segmenter.vad.speaking)
        if masked:
            if probability >= self.segmenter.vad.settings.start_threshold:
                self.counters["echo_chunks"] += 1
            probability = 0.0  # the personas' own voice: silence as far as turns go
        self._publish_events(self.segmenter.push(samples, start_ns, probability,
                                                 masked=masked))

    def _publish_events(self, events: Sequence[VoiceStart | VoiceEnd | Result]) -> None:
        for event in events:
            if isinstance(event, VoiceStart):
                trace = self._traces[event.utterance_id] = Trace(event.utterance_id,
                                                                 event.onset_ns)
                with self.traced(trace):
                    self.vad_pub.publish(VadEvent(event="start", utterance_id=event.utterance_id,
                                                  audio_ns=event.onset_ns,
                                                  probability=event.probability))
            elif isinstance(event, VoiceEnd):
                with self.traced(self._traces.get(event.utterance_id)):
                    self.vad_pub.publish(VadEvent(event="end", utterance_id=event.utterance_id,
                                                  audio_ns=event.end_ns,
                                                  probability=event.probability))
            else:
                self._publish(event)

    # ------------------------------------------------------------ transcription

    async def _start_job(self, job: Job) -> None:
        """Run ``job`` in a task of its own (cancelled when the node closes): the worker goes
        back to the segmenter at once, so a final can start while a partial still runs."""
        kind = "final" if job.final else "partial"
        self.create_task(self._run(job), f"{kind} of {job.utterance_id}")

    async def _run(self, job: Job) -> None:
        try:
            recognition = await self.recogniser.transcribe(job.audio, final=job.final)
        except Exception as exc:  # one bad utterance must not deafen the node
            self.counters["recognition_errors"] += 1
            self.log.error("transcribing %s failed: %s: %s", job.utterance_id,
                           type(exc).__name__, exc)
            recognition = Recognition("")
        for result in self.segmenter.finish(job, recognition):
            try:
                self._publish(result)
            except Exception:  # the node must outlive any one transcript
                self.counters["publish_errors"] += 1
                self.log.exception("publishing the transcript of %s failed",
                                   result.utterance_id)
        self.jobs.wake()  # another job may be due now

    def _publish(self, result: Result) -> None:
        text = result.recognition.text
        trace = self._traces.get(result.utterance_id)
        if result.final:
            self._traces.pop(result.utterance_id, None)
        if not text:
            self.counters["empty_transcripts"] += 1
            self._no_words(result, trace)
            return
        start_ns = result.audio_ns + int(result.speech_start_s * 1e9)
        end_ns = result.audio_ns + int(result.speech_end_s * 1e9)
        heard = self.reference.texts(start_ns, end_ns)
        if is_echo_text(text, heard, self.params.echo_text_overlap):
            self.counters["echo_transcripts"] += 1
            self.log.info("dropped %r: the personas were saying it", text)
            self._no_words(result, trace)
            return
        speaker, score = UNKNOWN, 0.0
        if result.final and self.labeler is not None:
            first = int(result.speech_start_s * SAMPLE_RATE)
            last = int(result.speech_end_s * SAMPLE_RATE)
            label = self.labeler.label(result.audio[first:last])
            speaker, score = label.name, label.score
        transcript = Transcript(
            utterance_id=result.utterance_id, text=text, final=result.final, speaker=speaker,
            speaker_score=score, start=result.speech_start_s, end=result.speech_end_s,
            audio_ns=result.audio_ns,
            words=[Word(text=w.text, start=w.start, end=w.end, probability=w.probability)
                   for w in result.recognition.words],
        )
        with self.traced(trace):
            (self.final_pub if result.final else self.partial_pub).publish(transcript)

    def _no_words(self, result: Result, trace: Trace | None) -> None:
        """Every utterance ends with one final: an empty one when nobody said anything (a
        cough, a noise, the personas' own words), so the director need not wait for words."""
        if result.final:
            with self.traced(trace):
                self.final_pub.publish(Transcript(utterance_id=result.utterance_id, text="",
                                                  final=True, audio_ns=result.audio_ns))
