"""The pyannote speaker backend (production, GPU, the ``pyannote`` extra): never in CI."""

from __future__ import annotations

import os

import pytest

from nodes.stt.speakers import UNKNOWN, SpeakerLabeler
from nodes.stt.testing import espeak, piper


@pytest.mark.gpu
class TestPyannote:
    def test_labels_the_enrolled_voice(self) -> None:
        model = os.environ.get("VT_PYANNOTE_MODEL")
        if not model:
            pytest.skip("set VT_PYANNOTE_MODEL to a local pyannote embedding checkpoint")
        from nodes.stt.backends.pyannote import PyannoteEmbedder, PyannoteSettings

        labeler = SpeakerLabeler(PyannoteEmbedder(PyannoteSettings(model_path=model)))
        labeler.enrol("sam", espeak("My name is Sam and I help run this stream every week."))
        assert labeler.label(espeak("Can you tell the chat what happened?")).name == "sam"
        assert labeler.label(piper("Welcome back to the stream, everyone.")).name == UNKNOWN


class TestWithoutTheExtra:
    def test_a_missing_model_path_is_refused_first(self) -> None:
        from nodes.stt.backends.pyannote import PyannoteEmbedder, PyannoteSettings

        with pytest.raises(ValueError, match="needs speaker_model_path"):
            PyannoteEmbedder(PyannoteSettings(model_path=""))

    def test_without_torch_the_error_names_the_extra(self) -> None:
        try:
            import torch  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("torch is installed here")
        from nodes.stt.backends.pyannote import PyannoteEmbedder, PyannoteSettings

        with pytest.raises(RuntimeError, match="uv sync --extra pyannote"):
            PyannoteEmbedder(PyannoteSettings(model_path="/models/embedding"))
