"""Who is speaking: the enrolled collaborator, or ``unknown``.

A `nodes.stt.backends.SpeakerEmbedder` turns an utterance into a vector and scores how alike
two vectors are; `SpeakerLabeler` compares an utterance with the enrolled samples and names
the best match above a threshold. Embedders are plug-ins (`nodes.stt.backends`):
``spectral`` (numpy only, the default: cepstral statistics, good at telling clearly different
voices apart, not at telling two similar people apart), ``resemblyzer`` on the CPU, and
pyannote's speaker-embedding model on the GPU (the ``pyannote`` extra) in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nodes.stt.backends import SpeakerEmbedder

__all__ = ["UNKNOWN", "Label", "SpeakerLabeler"]

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Label:
    """The speaker's name (or ``unknown``) and the best similarity found."""

    name: str
    score: float


class SpeakerLabeler:
    """Names the enrolled speaker an utterance is most similar to, above ``threshold``.

    Parameters
    ----------
    embedder:
        Turns audio into vectors (a `nodes.stt.backends.SPEAKER_EMBEDDERS` plug-in).
    threshold:
        Similarity needed to name someone (below it the label is ``unknown``); None takes the
        embedder's default.
    """

    def __init__(self, embedder: SpeakerEmbedder, threshold: float | None = None,
                 sample_rate: int = 16000):
        self.embedder = embedder
        self.threshold = embedder.default_threshold if threshold is None else threshold
        self.sample_rate = sample_rate
        self._enrolled: dict[str, list[np.ndarray]] = {}

    @property
    def names(self) -> list[str]:
        return list(self._enrolled)

    def enrol(self, name: str, samples: np.ndarray) -> None:
        """Add a sample of ``name``'s voice (a few seconds of speech; more samples help)."""
        if name == UNKNOWN:
            raise ValueError(f"{UNKNOWN!r} is the label for nobody enrolled: pick another name")
        self._enrolled.setdefault(name, []).append(self._embed(samples))

    def label(self, samples: np.ndarray) -> Label:
        """Who is speaking in ``samples``: the best enrolled match, or ``unknown``."""
        if not self._enrolled:
            return Label(UNKNOWN, 0.0)
        vector = self._embed(samples)
        name, score = max(
            ((n, max(self.embedder.similarity(v, vector) for v in vs))
             for n, vs in self._enrolled.items()),
            key=lambda pair: pair[1])
        return Label(name if score >= self.threshold else UNKNOWN, score)

    def _embed(self, samples: np.ndarray) -> np.ndarray:
        if not np.any(np.abs(samples) > 1e-4):
            raise ValueError("cannot embed silence: the sample holds no voice")
        return np.asarray(self.embedder.embed(samples, self.sample_rate), dtype=np.float64)
