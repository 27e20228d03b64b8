"""Hears ``audio/mic``: voice activity on ``speech/vad`` at once, transcripts on
``speech/partial`` and ``speech/final``, never for the personas' own voices."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np

from bus.errors import ParameterError, PcmError
from bus.node import Node, NodeOptions, Trace
from messages.audio import AudioChunk, AudioFrame, Playhead
from messages.pcm import decode_mono, frame_count
from messages.speech import Transcript, VadEvent, Word
from nodes.stt.backends.silero import CHUNK_SAMPLES, SileroVad
from nodes.stt.backends.whisper import WhisperBackend, WhisperSettings
from nodes.stt.echo import EchoGate, EchoSettings, ReferenceTimeline, is_echo_text
from nodes.stt.speakers import UNKNOWN, SpeakerEmbedder, SpeakerLabeler, SpectralEmbedder
from nodes.stt.streaming import (
    Job,
    Rechunker,
    Recognisable,
    Recognition,
    Result,
    Segmenter,
    StreamSettings,
    VoiceEnd,
    VoiceStart,
)
from nodes.stt.vad import Vad, VadSettings

SAMPLE_RATE = 16000


class SttNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("stt", options=options)
        try:
            self._build()
        except (OSError, ValueError, RuntimeError) as exc:  # bad values, missing files
            raise ParameterError(f"stt: {exc}") from None
        self.vad_pub = self.create_publisher(VadEvent, "speech/vad")
        self.partial_pub = self.create_publisher(Transcript, "speech/partial")
        self.final_pub = self.create_publisher(Transcript, "speech/final")
        self.create_subscription(AudioFrame, "audio/mic", self.on_frame)
        self.create_subscription(AudioChunk, "tts/audio", self.on_tts_audio)
        self.create_subscription(Playhead, "audio/playhead", self.on_playhead)
        self._traces: dict[str, Trace] = {}
        """Per utterance: its trace (id = utterance id, stamp = speech onset)."""
        self._refused: set[str] = set()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()

    def _build(self) -> None:
        """Declare the parameters and build the pipeline from them."""
        p = self.declare_parameter
        vad = VadSettings(
            start_threshold=p("start_threshold", 0.5, "speech probability that starts speech"),
            end_threshold=p("end_threshold", 0.35, "probability under which speech is quiet"),
            start_chunks=p("start_chunks", 2, "32 ms chunks in a row needed to start"),
            hangover_ms=p("hangover_ms", 400.0, "quiet time that ends an utterance"),
        )
        stream = StreamSettings(
            preroll_ms=p("preroll_ms", 300.0, "audio kept before the onset"),
            partial_interval_ms=p("partial_interval_ms", 1000.0, "speech between partials"),
            min_partial_ms=p("min_partial_ms", 600.0, "speech before the first partial"),
            final_after_ms=p("final_after_ms", 96.0, "pause before the final is started"),
            max_utterance_s=p("max_utterance_s", 25.0, "longer utterances are cut"),
        )
        whisper = WhisperSettings(
            model_path=p("model_path", "", "Whisper model directory ('' bundled tiny.en)"),
            device=p("device", "cpu", "cpu or cuda"),
            compute_type=p("compute_type", "int8", "int8 (cpu), float16 (cuda)"),
            beam_size=p("beam_size", 5, "beam for finals"),
            partial_beam_size=p("partial_beam_size", 1, "beam for partials"),
            cpu_threads=p("cpu_threads", 0, "CTranslate2 threads per job (0 default)"),
            num_workers=p("num_workers", 2, "jobs the model runs at once (a final beside "
                          "a partial)"),
            language=p("language", "en", "spoken language"),
        )
        echo = EchoSettings(
            margin_db=p("echo_margin_db", 6.0, "a person must beat the echo by this much"),
            initial_gain_db=p("echo_initial_gain_db", -6.0, "echo gain assumed before learning"),
            tail_ms=p("echo_tail_ms", 150.0, "echo path length (reverb) covered"),
            lead_ms=p("echo_lead_ms", 60.0, "playhead timing error tolerated"),
            text_overlap=p("echo_text_overlap", 0.7, "share of the personas' words = echo"),
        )
        self.vad_backend = SileroVad()
        self.segmenter = Segmenter(Vad(vad, CHUNK_SAMPLES * 1000 / SAMPLE_RATE), stream,
                                   chunk_samples=CHUNK_SAMPLES, sample_rate=SAMPLE_RATE,
                                   new_id=lambda: f"utt-{uuid.uuid4().hex[:12]}")
        self.rechunker = Rechunker(CHUNK_SAMPLES, SAMPLE_RATE)
        self.reference = ReferenceTimeline(echo)
        self.gate = EchoGate(echo)
        self.echo_text_overlap = echo.text_overlap
        self.recogniser: Recognisable = WhisperBackend(whisper)
        self.labeler = self._speaker_labeler()

    def _speaker_labeler(self) -> SpeakerLabeler | None:
        p = self.declare_parameter
        backend = p("speaker_backend", "spectral",
                    "spectral (numpy), resemblyzer (CPU, torch), pyannote (GPU) or none")
        enrol_wav = p("enrol_wav", "", "a WAV of the collaborator's voice to enrol")
        name = p("speaker_name", "collaborator", "the label for the enrolled voice")
        model_path = p("speaker_model_path", "", "pyannote embedding checkpoint (local)")
        device = p("speaker_device", "", "embedding device ('' cuda for pyannote, cpu else)")
        threshold = p("speaker_threshold", 0.0, "similarity needed to name the speaker "
                      "(0: the backend's default)")
        if backend == "none" or not enrol_wav:
            return None
        embedder: SpeakerEmbedder
        if backend == "spectral":
            embedder = SpectralEmbedder(SAMPLE_RATE)
        elif backend == "resemblyzer":
            from nodes.stt.backends.resemblyzer import ResemblyzerEmbedder

            embedder = ResemblyzerEmbedder(device=device or "cpu")
        elif backend == "pyannote":
            from nodes.stt.backends.pyannote import PyannoteEmbedder, PyannoteSettings

            embedder = PyannoteEmbedder(PyannoteSettings(model_path=model_path,
                                                         device=device or "cuda"))
        else:
            raise ValueError("speaker_backend must be spectral, resemblyzer, pyannote or none, "
                             f"not {backend!r}")
        from faster_whisper.audio import decode_audio

        labeler = SpeakerLabeler(embedder, threshold or None, SAMPLE_RATE)
        labeler.enrol(name, np.asarray(decode_audio(enrol_wav, sampling_rate=SAMPLE_RATE)))
        self.log.info("enrolled %s from %s (%s embeddings)", name, enrol_wav, backend)
        return labeler

    async def start(self) -> None:
        first = self._loop is None
        await super().start()
        if first:
            self._worker = asyncio.get_running_loop().create_task(self._transcribe_forever())

    # ------------------------------------------------------------ inputs

    def on_frame(self, frame: AudioFrame) -> None:
        if (frame.sample_rate, frame.channels, frame.format) != (SAMPLE_RATE, 1, "s16le"):
            self._refuse("audio/mic", f"frames must be {SAMPLE_RATE} Hz mono s16le, got "
                         f"{frame.sample_rate} Hz x{frame.channels} {frame.format}")
            return
        try:
            frame_count(frame.pcm, frame.format, frame.channels)
        except PcmError as exc:
            self._refuse("audio/mic", str(exc))
            return
        for pcm, start_ns in self.rechunker.push(frame.pcm, frame.start_ns):
            self._on_chunk(pcm, start_ns)
        self._wake.set()

    def on_tts_audio(self, chunk: AudioChunk) -> None:
        if chunk.sample_rate <= 0:
            self._refuse("tts/audio", "reference audio must be at a positive rate, got "
                         f"{chunk.sample_rate} Hz")
            return
        try:
            samples = decode_mono(chunk.pcm, chunk.format, chunk.channels)
        except PcmError as exc:
            self._refuse("tts/audio", f"reference audio: {exc}")
            return
        self.reference.add_audio(chunk.request_id, chunk.sentence_index, samples,
                                 chunk.sample_rate, text=chunk.text, last=chunk.last)

    def on_playhead(self, playhead: Playhead) -> None:
        if playhead.sample_rate <= 0:
            self._refuse("audio/playhead", f"sample_rate must be positive, got "
                         f"{playhead.sample_rate}")
            return
        self.reference.on_playhead(playhead.request_id, playhead.sentence_index, playhead.sample,
                                   playhead.sample_rate, playhead.state, playhead.audible_ns,
                                   text=playhead.text)

    def _on_chunk(self, pcm: bytes, start_ns: int) -> None:
        probability = self.vad_backend.probability(pcm)
        samples = decode_mono(pcm, "s16le", 1)
        end_ns = start_ns + self.segmenter.chunk_ns
        peak = self.reference.peak(start_ns, end_ns)
        aligned = self.reference.aligned(start_ns, end_ns) if peak > 0 else 0.0
        masked = not self.gate.is_person(float(np.mean(samples * samples)), peak, aligned,
                                         speaking=self.segmenter.vad.speaking)
        if masked:
            if probability >= self.segmenter.vad.settings.start_threshold:
                self.counters["echo_chunks"] += 1
            probability = 0.0  # the personas' own voice: silence as far as turns go
        for event in self.segmenter.push(samples, start_ns, probability, masked=masked):
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

    async def _transcribe_forever(self) -> None:
        """Start each job the segmenter says is due (a final may run beside a partial)."""
        loop = asyncio.get_running_loop()
        while True:
            job = self.segmenter.next_job()
            if job is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            task = loop.create_task(self._run(job))
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

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
        self._wake.set()  # another job may be due now

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
        if is_echo_text(text, heard, self.echo_text_overlap):
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

    def _refuse(self, topic: str, reason: str) -> None:
        self.counters["bad_input"] += 1
        if topic not in self._refused:
            self._refused.add(topic)
            self.log.warning("dropped input on %s: %s (logged once)", topic, reason)

    async def on_shutdown(self) -> None:
        for task in (self._worker, *self._jobs):
            if task is not None:
                task.cancel()
