"""Speaker labelling with the numpy spectral embedder on real synthesised voices."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.stt.backends.spectral import SpectralEmbedder
from nodes.stt.speakers import UNKNOWN, SpeakerLabeler
from nodes.stt.testing import ENROLMENT, espeak, voice_says

pytestmark = pytest.mark.slow  # synthesis with Piper and espeak-ng


@pytest.fixture(scope="module")
def labeler() -> SpeakerLabeler:
    labeler = SpeakerLabeler(SpectralEmbedder())
    labeler.enrol("sam", voice_says("espeak:en-us", ENROLMENT, seed=0))
    return labeler


class TestLabels:
    @pytest.mark.parametrize(
        ("voice", "text", "name"),
        [
            # the enrolled voice saying other things
            ("espeak:en-us", "Can you tell the chat what happened in the last game?", "sam"),
            ("espeak:en-us", "Wait, stop, I have a question.", "sam"),
            # the personas' voice
            ("piper", "Welcome back to the stream, today we are going to build a castle.",
             UNKNOWN),
            # other espeak-ng voices
            ("espeak:en-us+f3", "Can you tell the chat what happened in the last game?",
             UNKNOWN),
            ("espeak:en-gb-x-rp+f2", "Can you tell the chat what happened in the last game?",
             UNKNOWN),
        ],
    )
    def test_enrolled_voice_is_named_others_are_unknown(
        self, labeler: SpeakerLabeler, voice: str, text: str, name: str
    ) -> None:
        label = labeler.label(voice_says(voice, text, seed=1))
        assert label.name == name, label

    def test_nobody_enrolled_is_unknown(self) -> None:
        assert SpeakerLabeler(SpectralEmbedder()).label(espeak("hello")).name == UNKNOWN


class TestErrors:
    def test_unknown_is_not_a_name(self) -> None:
        with pytest.raises(ValueError, match="'unknown' is the label for nobody enrolled"):
            SpeakerLabeler(SpectralEmbedder()).enrol(UNKNOWN, espeak("hello"))

    def test_silence_cannot_be_enrolled(self) -> None:
        with pytest.raises(ValueError, match="cannot embed silence"):
            SpeakerLabeler(SpectralEmbedder()).enrol("sam", np.zeros(16000))

    def test_other_rates_are_refused(self) -> None:
        with pytest.raises(ValueError, match="works at 16000 Hz, got 8000"):
            SpectralEmbedder().embed(np.ones(8000), 8000)
