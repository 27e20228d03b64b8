"""The optional CPU speaker backend (Resemblyzer's GE2E encoder; needs torch + resemblyzer,
not in the default install: skipped without them)."""

from __future__ import annotations

import pytest

from nodes.stt.speakers import UNKNOWN, SpeakerLabeler
from nodes.stt.testing import ENROLMENT, voice_says

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def labeler() -> SpeakerLabeler:
    pytest.importorskip("resemblyzer", reason="optional: pip install torch (CPU) resemblyzer")
    from nodes.stt.backends.resemblyzer import ResemblyzerEmbedder

    labeler = SpeakerLabeler(ResemblyzerEmbedder())
    labeler.enrol("sam", voice_says("espeak:en-us", ENROLMENT, seed=0))
    return labeler


class TestLabels:
    @pytest.mark.parametrize(
        ("voice", "text", "name"),
        [
            # the enrolled voice saying other things
            ("espeak:en-us", "Can you tell the chat what happened in the last game?", "sam"),
            # the personas' voice, and a female espeak-ng voice
            ("piper", "Welcome back to the stream, today we are going to build a castle.",
             UNKNOWN),
            ("espeak:en-us+f3", "Can you tell the chat what happened in the last game?",
             UNKNOWN),
        ],
    )
    def test_enrolled_voice_is_named_others_are_unknown(
        self, labeler: SpeakerLabeler, voice: str, text: str, name: str
    ) -> None:
        assert labeler.label(voice_says(voice, text, seed=1)).name == name
