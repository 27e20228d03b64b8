"""pyannote's speaker-embedding model (production, on the GPU): the ``pyannote`` extra.

The model is loaded from a local path (a downloaded ``pyannote/embedding`` or
``pyannote/wespeaker-voxceleb-resnet34-LM`` checkpoint); nothing is fetched at run time.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from nodes.stt.backends import SttPackageMissing, SttSettingsError

__all__ = ["PyannoteEmbedder", "PyannoteSettings"]


class PyannoteSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the model is and where it runs (the node's ``speaker_model_path`` and
    ``speaker_device``).

    Attributes
    ----------
    model_path:
        A local pyannote embedding checkpoint (file or directory); required.
    device:
        ``cuda`` in production; ``cpu`` works, slowly.
    """

    model_path: str = ""
    device: str = "cuda"


class PyannoteEmbedder:
    """`nodes.stt.backends.SpeakerEmbedder` backed by a pyannote embedding model."""

    Settings = PyannoteSettings

    default_threshold = 0.5
    """Cosine similarity; pyannote's speaker verification examples put EER thresholds near it."""

    def __init__(self, settings: PyannoteSettings):
        if not settings.model_path:
            raise SttSettingsError("the pyannote speaker backend needs speaker_model_path: a local "
                             "pyannote embedding checkpoint")
        try:
            import torch
            from pyannote.audio import Inference, Model
        except ImportError as exc:
            raise SttPackageMissing(f"the pyannote speaker backend needs the pyannote extra ({exc}): "
                               "uv sync --extra pyannote") from None
        self._torch = torch
        try:
            model: Any = Model.from_pretrained(settings.model_path)
            self._inference: Any = Inference(model, window="whole")
            self._inference.to(torch.device(settings.device))
        except (OSError, ValueError, RuntimeError) as exc:  # no checkpoint there, no such device
            raise SttSettingsError(
                f"the pyannote speaker backend cannot load {settings.model_path} on "
                f"{settings.device}: {exc}") from None

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        waveform = self._torch.from_numpy(np.asarray(samples, dtype=np.float32)[None, :])
        vector = self._inference({"waveform": waveform, "sample_rate": sample_rate})
        return np.asarray(vector, dtype=np.float64).reshape(-1)

    def similarity(self, enrolled: np.ndarray, candidate: np.ndarray) -> float:
        """Cosine similarity."""
        norms = float(np.linalg.norm(enrolled) * np.linalg.norm(candidate))
        return float(enrolled @ candidate) / norms if norms else 0.0
