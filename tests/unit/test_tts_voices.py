"""Which voice each persona gets."""

from __future__ import annotations

import pytest

from nodes.tts.backends import VoiceSettings
from nodes.tts.voices import PRESETS, VoiceBook, parse_voices


class TestVoiceBook:
    def test_unnamed_personas_get_distinct_presets_in_turn(self) -> None:
        book = VoiceBook({}, "piper")
        first, second = book.resolve("hana"), book.resolve("kit")
        assert first != second
        assert (first, second) == PRESETS
        assert book.resolve("hana") is first  # stable once given

    def test_named_persona_keeps_its_voice(self) -> None:
        own = VoiceSettings(backend="espeak", voice="en-gb")
        book = VoiceBook({"hana": own}, "piper")
        assert book.resolve("hana") is own
        assert book.resolve("kit") == PRESETS[0]

    def test_default_backend_applies_to_presets(self) -> None:
        voice = VoiceBook({}, "espeak").resolve("kit")
        assert voice.backend == "espeak" and voice.voice == ""

    def test_fallback_uses_the_personas_fallback_voice(self) -> None:
        book = VoiceBook({}, "piper")
        book.resolve("hana")
        fallback = book.fallback("kit", "espeak")
        assert (fallback.backend, fallback.voice, fallback.pitch) == ("espeak", "en-us+f3", 70)

    def test_backends_named_by_configuration(self) -> None:
        book = VoiceBook({"a": VoiceSettings(backend="fish")}, "piper")
        assert book.backends() == {"fish", "piper"}


class TestParseVoices:
    def test_fields_are_checked(self) -> None:
        with pytest.raises(ValueError, match=r"voices\.kit: Object contains unknown field "
                                             r"`colour`"):
            parse_voices({"kit": {"colour": "blue"}})

    def test_parsed(self) -> None:
        assert parse_voices({"kit": {"backend": "espeak", "pitch": 80}}) == {
            "kit": VoiceSettings(backend="espeak", pitch=80)}
