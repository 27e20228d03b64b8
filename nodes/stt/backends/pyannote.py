"""pyannote's speaker-embedding model (production, on the GPU): the ``pyannote`` extra.

The model is loaded from a local path (a downloaded ``pyannote/embedding`` or
``pyannote/wespeaker-voxceleb-resnet34-LM`` checkpoint); nothing is fetched at run time.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

__all__ = ["PyannoteEmbedder", "PyannoteSettings"]


class PyannoteSettings(msgspec.Struct, frozen=True):
    """Where the model is and where it runs.

    Attributes
    ----------
    model_path:
        A local pyannote embedding checkpoint (file or directory).
    device:
        ``cuda`` in production; ``cpu`` works, slowly.
    """

    model_path: str
    device: str = "cuda"


class PyannoteEmbedder:
    """`nodes.stt.speakers.SpeakerEmbedder` backed by a pyannote embedding model."""

    default_threshold = 0.5
    """Cosine similarity; pyannote's speaker verification examples put EER thresholds near it."""

    def __init__(self, settings: PyannoteSettings):
        if not settings.model_path:
            raise ValueError("the pyannote speaker backend needs speaker_model_path: a local "
                             "pyannote embedding checkpoint")
        try:
            import torch
            from pyannote.audio import Inference, Model
        except ImportError as exc:
            raise RuntimeError(f"the pyannote speaker backend needs the pyannote extra ({exc}): "
                               "uv sync --extra pyannote") from None
        self._torch = torch
        model: Any = Model.from_pretrained(settings.model_path)
        self._inference: Any = Inference(model, window="whole")
        self._inference.to(torch.device(settings.device))

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        waveform = self._torch.from_numpy(np.asarray(samples, dtype=np.float32)[None, :])
        vector = self._inference({"waveform": waveform, "sample_rate": sample_rate})
        return np.asarray(vector, dtype=np.float64).reshape(-1)

    def similarity(self, enrolled: np.ndarray, candidate: np.ndarray) -> float:
        """Cosine similarity."""
        norms = float(np.linalg.norm(enrolled) * np.linalg.norm(candidate))
        return float(enrolled @ candidate) / norms if norms else 0.0
