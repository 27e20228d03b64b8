"""The default cast speaks in two voices a listener tells apart, both understood: each
persona's default voice from the tts node's voice book, measured by its pitch and by the
bundled Whisper's word error rate; on a machine fast enough for Kokoro, and on one too slow
(Mika on Piper's joe raised)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nodes.speaker.resample import resample
from nodes.stt.backends.whisper import WhisperBackend, WhisperSettings
from nodes.stt.text import word_error_rate
from nodes.tts.backends import BACKENDS
from nodes.tts.params import Params
from nodes.tts.pitch import median_pitch_hz
from nodes.tts.voices import MIKA_PITCH, VoiceBook

pytestmark = pytest.mark.slow

SENTENCES = [
    "Welcome back, chat, it is so good to see all of you here again tonight.",
    "That is a great question, and honestly I do not know the answer yet.",
]


@pytest.fixture(scope="module")
def recogniser() -> WhisperBackend:
    return WhisperBackend(WhisperSettings())


def default_book() -> VoiceBook:
    params = Params()
    return VoiceBook.from_parameters({}, {}, params.default_backend, params.fallback)


async def heard(persona: str, book: VoiceBook, recogniser: WhisperBackend
                ) -> tuple[str, float, float]:
    """The persona's backend, its median pitch and Whisper's mean word error rate."""
    voice = book.resolve(persona)
    backend: Any = BACKENDS.load(voice.backend, {"max_rtf": 0} if voice.backend == "kokoro"
                                 else None)
    pitches, errors = [], []
    for text in SENTENCES:
        chunks = [c async for c in backend.synthesize(text, voice.options)]
        pcm, rate = np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate
        pitches.append(median_pitch_hz(pcm, rate))
        words = await recogniser.transcribe(resample(pcm.astype(np.float32) / 32768, rate,
                                                     16000), final=True)
        errors.append(word_error_rate(text, words.text))
    return voice.backend, float(np.median(pitches)), float(np.mean(errors))


async def test_mika_on_kokoro_and_rook_sound_apart_and_are_understood(
        recogniser: WhisperBackend) -> None:
    book = default_book()
    mika_backend, mika_hz, mika_wer = await heard("mika", book, recogniser)
    rook_backend, rook_hz, rook_wer = await heard("rook", book, recogniser)
    assert (mika_backend, rook_backend) == ("kokoro", "piper")
    assert mika_hz > 1.5 * rook_hz  # about an octave apart (measured ~2x)
    assert mika_wer <= 0.2 and rook_wer <= 0.2


async def test_where_kokoro_is_too_slow_mika_is_rook_s_voice_raised_and_understood(
        recogniser: WhisperBackend) -> None:
    book = default_book()
    assert book.backend_failed("kokoro") == ["mika"]
    mika_backend, mika_hz, mika_wer = await heard("mika", book, recogniser)
    _, rook_hz, _ = await heard("rook", book, recogniser)
    assert mika_backend == "piper"
    assert mika_hz == pytest.approx(MIKA_PITCH * rook_hz, rel=0.1)
    assert mika_wer <= 0.2
