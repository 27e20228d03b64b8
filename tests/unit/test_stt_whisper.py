"""The faster-whisper backend with the bundled tiny.en model on real Piper speech."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nodes.stt.backends.whisper import WhisperBackend, WhisperSettings
from nodes.stt.testing import piper
from nodes.stt.text import word_error_rate

TEXT = "Thank you so much for the follow, it really means a lot."


@pytest.fixture(scope="module")
def backend() -> WhisperBackend:
    return WhisperBackend(WhisperSettings(cpu_threads=2))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    silence = np.zeros(4800, np.float32)
    return np.concatenate([silence, piper(TEXT), silence])


@pytest.mark.slow
class TestTranscribe:
    async def test_final_has_the_words_and_their_timings(self, backend: WhisperBackend,
                                                         speech: np.ndarray) -> None:
        result = await backend.transcribe(speech, final=True)
        assert word_error_rate(TEXT, result.text) <= 0.15, result.text
        assert len(result.words) >= 10
        starts = [w.start for w in result.words]
        assert starts == sorted(starts)
        assert result.words[-1].end <= len(speech) / 16000 + 0.1
        assert all(w.end >= w.start for w in result.words)

    async def test_partial_is_text_only(self, backend: WhisperBackend,
                                        speech: np.ndarray) -> None:
        result = await backend.transcribe(speech[: len(speech) // 2], final=False)
        assert result.text.lower().startswith("thank you")
        assert result.words == ()


class TestModelPath:
    def test_a_folder_without_a_model_is_refused_with_the_fix(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError,
                           match=r"no CTranslate2 Whisper model in .*model\.bin"):
            WhisperBackend(WhisperSettings(model_path=str(tmp_path)))


@pytest.mark.gpu
class TestLargeV3OnCuda:
    """Production: ``VT_WHISPER_MODEL`` = a local faster-whisper large-v3 directory."""

    async def test_transcribes_on_the_gpu(self, speech: np.ndarray) -> None:
        model = os.environ.get("VT_WHISPER_MODEL")
        if not model:
            pytest.skip("set VT_WHISPER_MODEL to a local faster-whisper large-v3 directory")
        backend = WhisperBackend(WhisperSettings(model_path=model, device="cuda",
                                                 compute_type="float16"))
        result = await backend.transcribe(speech, final=True)
        assert word_error_rate(TEXT, result.text) <= 0.1, result.text
