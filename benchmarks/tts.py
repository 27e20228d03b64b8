"""TTS and speaker figures: time to first audio, real-time factor, chunk-in to audible, and
how the default cast's two voices sound (pitch, intelligibility).

``python benchmarks/tts.py [--json]``. For each backend that runs here (Piper, the default,
espeak-ng and Kokoro), real ``nodes.tts`` and ``nodes.speaker`` processes on a real bus play
into a private PulseAudio null sink (WAV output when PulseAudio cannot start) recorded by
``parec``:

- ``first_audio_ms``: a sentence published on ``llm/sentence`` -> its first ``tts/audio``
  chunk published (median over the sentences).
- ``rtf``: synthesis time / audio duration, the backend alone in this process.
- ``speaker_latency_ms``: first chunk published -> its first sample audible, from the
  speaker's playhead (device latency included, from PortAudio's DAC time).
- ``first_audible_ms``: sentence published -> first sample audible.
- ``stop_ms``: ``llm/cancel`` published -> silence, found in the recording (the recording is
  put on the bus clock through the playhead).
- ``before_first_audio_ms``, ``first_audio_ratio``: Piper's first audio as configured before
  issue 19 (`BEFORE_ISSUE_19`), in the same run, and today's over it.
Keys for espeak-ng carry an ``espeak_`` prefix, Kokoro's ``kokoro_``. StyleTTS2 and Fish
Speech need a GPU or a server: not measured here.

For each persona of the default cast (``mika`` on Kokoro, ``mika_raised`` on Piper's joe
raised, where Kokoro is too slow, ``rook``), with the voice the tts node gives it:
``PERSONA_voice`` (backend and voice), ``PERSONA_pitch_hz`` (median pitch of the sentences,
`nodes.tts.pitch`) and ``PERSONA_wer`` (word error rate of the bundled faster-whisper
tiny.en on them).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this folder would come first and its bus.py shadow the `bus` package
sys.path[:1] = [str(ROOT)]

from benchmarks.report import arguments, emit  # noqa: E402
from bus.testing import BusProcess, NodeProcess, Probe  # noqa: E402
from messages.audio import AudioChunk, Playhead  # noqa: E402
from messages.llm import Cancel, Sentence  # noqa: E402
from messages.pcm import decode_mono  # noqa: E402
from nodes.speaker.pulse import Capture, PulseServer, PulseUnavailable  # noqa: E402
from nodes.speaker.resample import resample  # noqa: E402
from nodes.stt.backends.whisper import WhisperBackend, WhisperSettings  # noqa: E402
from nodes.stt.text import word_error_rate  # noqa: E402
from nodes.tts.backends import BACKENDS, TtsBackend  # noqa: E402
from nodes.tts.params import Params  # noqa: E402
from nodes.tts.pitch import median_pitch_hz  # noqa: E402
from nodes.tts.voices import VoiceBook, backend_table  # noqa: E402

RATE = 48000
SENTENCES = [
    "Welcome back, chat, it is so good to see all of you here again tonight.",
    "I tried to bake bread yesterday and it came out as a brick.",
    "That is a great question, and honestly I do not know the answer yet.",
    "Let us see what the next game has in store for us.",
]
TARGETS = {"first_audio_ms": 300, "rtf": 0.5, "speaker_latency_ms": 100}
"""Targets on 2 cores with Piper (issue 7)."""
BEFORE_ISSUE_19 = {"first_max_chars": 40}
"""The baseline, run in the same run: Piper as the tts node ran it before issue 19 (a
40-character first piece; only the warm-up at load cannot be undone, and this benchmark
warms up anyway)."""


async def spoken(backend: TtsBackend, text: str, voice: Any) -> tuple[np.ndarray, int]:
    """``text`` spoken: int16 samples and their rate."""
    chunks = [c async for c in backend.synthesize(text, voice)]
    return np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate


def synth_rtf(kind: str, settings: dict[str, Any] | None = None) -> float:
    """Synthesis time over audio time for every sentence, after one warm-up."""
    backend = BACKENDS.load(kind, settings)
    voice = BACKENDS.settings(kind, attr="Voice")  # the backend's default voice

    async def run() -> tuple[float, float]:
        await spoken(backend, "Warm up.", voice)
        start = time.perf_counter()
        audio = 0.0
        for text in SENTENCES:
            pcm, rate = await spoken(backend, text, voice)
            audio += len(pcm) / rate
        return time.perf_counter() - start, audio

    elapsed, audio = asyncio.run(run())
    return elapsed / audio


def cast_voices() -> dict[str, Any]:
    """Each default persona's voice: what it is, its median pitch, and Whisper's word error
    rate on the sentences it speaks; ``mika`` on Kokoro (a machine fast enough for it),
    ``mika_raised`` on Piper's joe raised (one too slow: here)."""
    book = VoiceBook.from_parameters({}, {}, Params().default_backend, Params().fallback)
    slow = VoiceBook.from_parameters({}, {}, Params().default_backend, Params().fallback)
    slow.backend_failed("kokoro")
    recogniser = WhisperBackend(WhisperSettings())
    figures: dict[str, Any] = {}

    async def run() -> None:
        for persona, voice in (("mika", book.resolve("mika")),
                               ("mika_raised", slow.resolve("mika")),
                               ("rook", book.resolve("rook"))):
            kind, settings = backend_table(voice.backend, {})
            backend = BACKENDS.load(kind, {"max_rtf": 0} if kind == "kokoro" else settings)
            pitches, errors = [], []
            for text in SENTENCES:
                pcm, rate = await spoken(backend, text, voice.options)
                pitches.append(median_pitch_hz(pcm, rate))
                heard = await recogniser.transcribe(
                    resample(pcm.astype(np.float32) / 32768, rate, 16000), final=True)
                errors.append(word_error_rate(text, heard.text))
            name = getattr(voice.options, "voice", "") or "default"
            raised = getattr(voice.options, "pitch_ratio", 1.0)
            figures[f"{persona}_voice"] = f"{voice.backend} {name}" + (
                f" raised x{raised}" if raised != 1.0 else "")
            figures[f"{persona}_pitch_hz"] = round(statistics.median(pitches), 1)
            figures[f"{persona}_wer"] = round(statistics.mean(errors), 3)

    asyncio.run(run())
    return figures


def heard(request_id: str, state: str, after_s: float = 0.0) -> Callable[[Playhead], bool]:
    """A playhead test: ``request_id`` in ``state``, at least ``after_s`` into the sentence."""
    return lambda m: (m.request_id == request_id and m.state == state
                      and m.sample >= after_s * m.sample_rate)


def locate(recording: np.ndarray, reference: np.ndarray) -> int:
    """Where ``reference`` starts in ``recording`` (cross-correlation peak)."""
    size = 1 << int(np.ceil(np.log2(len(recording) + len(reference))))
    spectrum = np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size))
    correlation = np.fft.irfft(spectrum, size)[: len(recording) - len(reference) + 1]
    energy = np.concatenate([[0.0], np.cumsum(recording.astype(np.float64) ** 2)])
    window = energy[len(reference):] - energy[: len(energy) - len(reference)]
    correlation[window < 0.25 * float(np.sum(reference.astype(np.float64) ** 2))] = 0.0
    return int(np.argmax(correlation))


async def measure_node(kind: str, bus_url: str, capture: Capture | None) -> dict[str, Any]:
    first_audio, latency, audible, stops = [], [], [], []
    async with Probe(bus_url) as probe:
        chunks = probe.collect("tts/audio")
        heads = probe.collect("audio/playhead")
        await probe.wait_for_subscribers("llm/sentence")
        await probe.wait_for_subscribers("tts/audio")
        probe.publish("llm/sentence", Sentence(request_id="warm", persona="a", index=0,
                                               text="Warm up.", final=True))
        await probe.wait_for("audio/playhead", timeout=30, where=lambda m: m.state == "finished")
        cancels = {}
        for i, text in enumerate(SENTENCES):
            rid = f"{kind}-{i}"
            sent = probe.publish("llm/sentence", Sentence(request_id=rid, persona="a", index=0,
                                                          text=text, final=True))
            await probe.wait_for("audio/playhead", timeout=30,
                                 where=heard(rid, "playing", after_s=0.4))
            cancels[rid] = probe.publish("llm/cancel", Cancel(request_id=rid)).stamp_ns
            await probe.wait_for("audio/playhead", timeout=10, where=heard(rid, "cut"))
            first_chunk = min(h.stamp_ns for h, m in chunks if m.request_id == rid)
            playing: list[Playhead] = [m for _, m in heads
                                       if m.request_id == rid and m.state == "playing"]
            start = statistics.median(p.audible_ns - p.sample * 1e9 / p.sample_rate
                                      for p in playing)
            first_audio.append((first_chunk - sent.stamp_ns) / 1e6)
            latency.append((start - first_chunk) / 1e6)
            audible.append((start - sent.stamp_ns) / 1e6)
            if capture is None:
                stops.append(next((m.audible_ns - cancels[rid]) / 1e6 for _, m in heads
                                  if m.request_id == rid and m.state == "cut"))
            else:
                await asyncio.sleep(0.3)
                stops.append(_stop_from_recording(capture, chunks, rid, start, cancels[rid]))
    return {
        "first_audio_ms": round(statistics.median(first_audio), 1),
        "speaker_latency_ms": round(statistics.median(latency), 1),
        "first_audible_ms": round(statistics.median(audible), 1),
        "stop_ms": round(statistics.median(stops), 1),
        "stop_ms_max": round(max(stops), 1),
    }


def _stop_from_recording(capture: Capture, chunks: list[tuple[Any, AudioChunk]], rid: str,
                         start_ns: float, cancel_ns: int) -> float:
    """Cancel -> silence: the sentence is found in the recording, its last loud frame after
    that is the silence, put on the bus clock by the sentence's audible start."""
    parts = [m for _, m in chunks if m.request_id == rid]
    pcm = decode_mono(b"".join(m.pcm for m in parts), parts[0].format, parts[0].channels)
    reference = resample(pcm, parts[0].sample_rate, RATE)[: RATE // 3]
    recording = capture.samples()[-RATE * 15:]
    offset = locate(recording, reference)
    loud = np.flatnonzero(np.abs(recording[offset:]) > 0.01)
    played = int(loud[-1]) + 1 if len(loud) else 0
    return (start_ns + played / RATE * 1e9 - cancel_ns) / 1e6


def run_backend(kind: str, pulse: PulseServer | None, run_dir: Path,
                tts_params: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """``tts_params``: a baseline's node parameters (no rtf measured); ``settings``: the
    backend's own."""
    env = pulse.env if pulse else dict(os.environ)
    speaker_params: dict[str, Any] = {"sample_rate": RATE}
    if pulse:
        speaker_params["pulse_sink"] = pulse.sink
    else:
        speaker_params.update(device="wav", run_dir=str(run_dir))
    with BusProcess() as bus:
        tts = NodeProcess("nodes.tts", bus.url, env=env,
                          params={"default_backend": kind, **(tts_params or {}),
                                  **({"backends": {kind: settings}} if settings else {})},
                          args=["--log-level", "WARNING"]).start()
        speaker = NodeProcess("nodes.speaker", bus.url, env=env, params=speaker_params,
                              args=["--log-level", "WARNING"]).start()
        capture = pulse.capture() if pulse else None
        try:
            figures = asyncio.run(measure_node(kind, bus.url, capture))
        finally:
            if capture is not None:
                capture.stop()
            tts.stop()
            speaker.stop()
    if tts_params is None:
        figures["rtf"] = round(synth_rtf(kind, settings), 3)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    args = parser.parse_args(argv)
    pulse: PulseServer | None
    try:
        pulse = PulseServer(rate=RATE).start()
        output = "PulseAudio null sink"
    except PulseUnavailable as exc:
        pulse, output = None, f"WAV files (PulseAudio unavailable: {exc})"
    run_dir = Path(f"/tmp/vt-bench-tts-{os.getpid()}")
    try:
        piper = run_backend("piper", pulse, run_dir)
        before = run_backend("piper", pulse, run_dir, BEFORE_ISSUE_19)
        espeak = run_backend("espeak", pulse, run_dir)
        kokoro = run_backend("kokoro", pulse, run_dir, settings={"max_rtf": 0})  # measured anyway
    finally:
        if pulse is not None:
            pulse.stop()
    result: dict[str, Any] = {
        **piper,
        "before_first_audio_ms": before["first_audio_ms"],
        "first_audio_ratio": round(piper["first_audio_ms"] / before["first_audio_ms"], 3),
        **{f"espeak_{k}": v for k, v in espeak.items()},
        **{f"kokoro_{k}": v for k, v in kokoro.items()},
        **cast_voices(),
        "output": output,
        "cpus": os.cpu_count(),
        "targets": TARGETS,
        "meets_targets": {k: piper[k] < v for k, v in TARGETS.items()},
    }
    return emit(result, args.json)


if __name__ == "__main__":
    main()
