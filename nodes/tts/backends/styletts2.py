"""StyleTTS2 on a GPU from local weights, one reference style per persona.

The ``styletts2`` package (PyPI) pins a huggingface-hub that conflicts with faster-whisper's, so
it cannot live in this project's lock: install it in its own environment
(``python -m venv .venv-styletts2 && .venv-styletts2/bin/pip install styletts2`` plus this
project) and run the TTS node from there. The package downloads any checkpoint it cannot find;
this backend refuses to start instead, so nothing is ever fetched at run time.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from nodes.tts.backends import SynthChunk, TtsBackendError, stream_from_thread

__all__ = ["StyleTTS2Backend", "StyleTTS2Settings", "StyleTTS2VoiceOptions"]

SAMPLE_RATE = 24000
INSTALL = (
    "the styletts2 backend needs the styletts2 package, which conflicts with this project's "
    "lock: install it in its own environment (`pip install styletts2`, see "
    "nodes/tts/backends/styletts2.py) and run the TTS node from there"
)


class StyleTTS2Settings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    checkpoint_path: str = ""
    """The model checkpoint (``epochs_2nd_000xx.pth``)."""
    config_path: str = ""
    """Its ``config.yml``; the ASR, F0 and PL-BERT paths inside it must exist locally too."""
    default_reference: str = ""
    """A reference WAV for personas that name none."""
    diffusion_steps: int = 5
    embedding_scale: float = 1.0


class StyleTTS2VoiceOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How one persona sounds on StyleTTS2."""

    voice: str = ""
    """A reference WAV for the style (empty: the backend's ``default_reference``)."""
    alpha: float = 0.3
    """Timbre, 0 = the reference's, 1 = the text's."""
    beta: float = 0.7
    """Prosody, 0 = the reference's, 1 = the text's."""


class StyleTTS2Backend:
    """StyleTTS2: one synthesis per piece (the model renders a piece at once)."""

    name = "styletts2"
    Settings = StyleTTS2Settings
    Voice = StyleTTS2VoiceOptions

    def __init__(self, settings: StyleTTS2Settings):
        self.settings = settings
        for path, what in ((settings.checkpoint_path, "checkpoint_path"),
                           (settings.config_path, "config_path")):
            if not path or not Path(path).is_file():
                raise TtsBackendError(f"styletts2 {what} {path!r} is not a file: give local weights")
        try:
            import yaml
            from styletts2 import tts
        except ImportError:
            raise TtsBackendError(INSTALL) from None
        with open(settings.config_path) as f:
            config = yaml.safe_load(f)
        for key in ("ASR_config", "ASR_path", "F0_path", "PLBERT_dir"):
            if not config.get(key) or not Path(config[key]).exists():
                raise TtsBackendError(
                    f"styletts2 config {settings.config_path}: {key} {config.get(key)!r} does not "
                    "exist locally (the package would download it)"
                )
        self._model = tts.StyleTTS2(
            model_checkpoint_path=settings.checkpoint_path, config_path=settings.config_path
        )
        self._styles: dict[str, Any] = {}
        self._lock = threading.Lock()  # one GPU inference at a time

    def _style(self, reference: str) -> Any:
        if not reference or not Path(reference).is_file():
            raise TtsBackendError(f"styletts2 reference audio {reference!r} is not a file")
        if reference not in self._styles:
            self._styles[reference] = self._model.compute_style(reference)
        return self._styles[reference]

    async def synthesize(self, text: str, voice: StyleTTS2VoiceOptions) -> AsyncIterator[SynthChunk]:
        reference = voice.voice or self.settings.default_reference

        def produce(emit: Callable[[SynthChunk], None], stopped: Callable[[], bool]) -> None:
            with self._lock:
                if stopped():
                    return
                audio = self._model.inference(
                    text, ref_s=self._style(reference), alpha=voice.alpha, beta=voice.beta,
                    diffusion_steps=self.settings.diffusion_steps,
                    embedding_scale=self.settings.embedding_scale,
                )
            pcm = (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767).astype(np.int16)
            emit(SynthChunk(pcm, SAMPLE_RATE))

        async for item in stream_from_thread(produce, "styletts2"):
            yield item

    async def aclose(self) -> None:
        self._styles.clear()
