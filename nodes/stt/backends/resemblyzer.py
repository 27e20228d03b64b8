"""Resemblyzer's GE2E speaker encoder on the CPU: the optional CPU speaker embedding.

The model ships inside the ``resemblyzer`` wheel (nothing is downloaded); it needs torch, so it
is not in the default install: ``pip install resemblyzer==0.1.4`` after the CPU torch wheel
(``torch==2.13.0+cpu``; a plain ``torch`` pulls the multi-GB CUDA build) and ``setuptools<81``
(it imports ``pkg_resources``). 25-35 ms a call on an idle machine.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from nodes.stt.backends import SttPackageMissing

__all__ = ["ResemblyzerEmbedder", "ResemblyzerSettings"]


class ResemblyzerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the encoder runs (the node's ``speaker_device``)."""

    device: str = "cpu"


class ResemblyzerEmbedder:
    """`nodes.stt.backends.SpeakerEmbedder` backed by Resemblyzer's ``VoiceEncoder``."""

    Settings = ResemblyzerSettings

    default_threshold = 0.75
    """Cosine similarity of GE2E embeddings (L2-normalised, 256 values)."""

    def __init__(self, settings: ResemblyzerSettings | None = None):
        settings = settings or ResemblyzerSettings()
        try:
            from resemblyzer import VoiceEncoder, preprocess_wav
        except ImportError as exc:
            raise SttPackageMissing(
                f"the resemblyzer speaker backend is not installed ({exc}): pip install "
                "torch==2.13.0+cpu (the CPU wheel), then resemblyzer==0.1.4 'setuptools<81'"
            ) from None
        self._preprocess: Any = preprocess_wav
        self._encoder: Any = VoiceEncoder(device=settings.device, verbose=False)

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        wav = self._preprocess(np.asarray(samples, dtype=np.float32), source_sr=sample_rate)
        return np.asarray(self._encoder.embed_utterance(wav), dtype=np.float64)

    def similarity(self, enrolled: np.ndarray, candidate: np.ndarray) -> float:
        """Cosine similarity (the embeddings come normalised)."""
        return float(enrolled @ candidate)
