"""Which voice each persona gets, and each persona's table checked by its own backend."""

from __future__ import annotations

from typing import Any

import pytest

from bus.errors import ParameterError
from nodes.tts.backends.espeak import EspeakVoiceOptions
from nodes.tts.backends.fish_speech import FishSpeechVoiceOptions
from nodes.tts.backends.kokoro import KokoroVoiceOptions
from nodes.tts.backends.piper import PiperVoiceOptions
from nodes.tts.backends.tone import ToneVoiceOptions
from nodes.tts.voices import MIKA_PITCH, PRESETS, PersonaVoice, VoiceBook, parse_voices

ON_PIPER = tuple(
    PersonaVoice("piper", PiperVoiceOptions(**preset.options["piper"]), preset.fallback_voice)
    for preset in PRESETS)
"""The presets as the bundled default speaks them."""


class TestVoiceBook:
    def test_unnamed_personas_get_distinct_presets_in_turn(self) -> None:
        book = VoiceBook({}, "piper")
        first, second = book.resolve("hana"), book.resolve("kit")
        assert first != second
        assert (first, second) == ON_PIPER
        assert book.resolve("hana") is first  # stable once given

    def test_named_persona_keeps_its_voice(self) -> None:
        own = PersonaVoice("espeak", EspeakVoiceOptions(voice="en-gb"))
        book = VoiceBook({"hana": own}, "piper")
        assert book.resolve("hana") is own
        assert book.resolve("kit") == ON_PIPER[0]

    def test_default_backend_applies_to_presets(self) -> None:
        voice = VoiceBook({}, "espeak").resolve("kit")
        assert voice.backend == "espeak" and voice.options.voice == ""

    def test_fallback_uses_the_personas_fallback_voice(self) -> None:
        book = VoiceBook({}, "piper")
        book.resolve("hana")
        fallback = book.fallback("kit", "espeak")
        assert (fallback.backend, fallback.options.voice, fallback.options.pitch) == (
            "espeak", "en-us+f3", 70)

    def test_fallback_of_a_named_persona(self) -> None:
        book = VoiceBook(parse_voices({"kit": {"backend": "piper", "fallback_voice": "en-gb"}}),
                         "piper")
        assert book.fallback("kit", "espeak") == PersonaVoice(
            "espeak", EspeakVoiceOptions(voice="en-gb"), "en-gb")

    def test_backends_named_by_configuration(self) -> None:
        book = VoiceBook({"a": PersonaVoice("fish", FishSpeechVoiceOptions())}, "piper")
        assert book.backends() == {"fish", "piper"}

    def test_personas_remembered_are_bounded(self) -> None:
        book = VoiceBook({}, "piper", max_personas=2)
        first = book.resolve("a")
        book.resolve("b")
        book.resolve("c")  # "a" is forgotten; its next turn gets the next preset
        assert book.resolve("a") is not first and book.resolve("a") == ON_PIPER[1]


class TestDefaultCast:
    """Mika and Rook, named by nobody, get voices listeners tell apart (issue 19)."""

    def test_mika_on_kokoro_and_rook_on_piper_where_piper_is_the_default(self) -> None:
        book = VoiceBook.from_parameters({}, {}, "piper", "espeak")
        assert book.resolve("mika") == PersonaVoice(
            "kokoro", KokoroVoiceOptions(voice="jf_alpha"), "en-us+f3")
        assert book.resolve("rook") == ON_PIPER[0]
        assert book.backends() == {"piper", "kokoro"}  # both loaded at start
        fallback = book.fallback("mika", "espeak")
        assert (fallback.options.voice, fallback.options.pitch) == ("en-us+f3", 70)

    def test_other_personas_still_get_the_presets_in_turn(self) -> None:
        book = VoiceBook.from_parameters({}, {}, "piper", "espeak")
        book.resolve("mika")
        assert (book.resolve("hana"), book.resolve("kit")) == ON_PIPER

    @pytest.mark.parametrize(("default", "mika"), [
        # another default backend speaks for both: the dry run's tone, espeak's female preset
        ("tone", PersonaVoice("tone", ToneVoiceOptions(), "en-us+f3")),
        ("espeak", PersonaVoice("espeak", EspeakVoiceOptions(pitch=70, rate=185), "en-us+f3")),
    ])
    def test_kokoro_only_instead_of_piper(self, default: str, mika: PersonaVoice) -> None:
        book = VoiceBook.from_parameters({}, {}, default, "espeak")
        assert book.resolve("mika") == mika
        assert book.backends() == {default}

    def test_where_kokoro_does_not_load_mika_is_joe_raised_and_stays_so_after_a_set(
            self) -> None:
        book = VoiceBook.from_parameters({}, {}, "piper", "espeak")
        assert book.resolve("mika").backend == "kokoro"
        assert book.backend_failed("kokoro") == ["mika"]
        raised = book.resolve("mika")
        assert raised == PersonaVoice("piper", PiperVoiceOptions(
            length_scale=0.8, pitch_ratio=MIKA_PITCH, noise_scale=0.5, noise_w_scale=0.5), "en-us+f3")
        kept = VoiceBook.from_parameters({}, {}, "piper", "espeak", keep=book)
        assert kept.resolve("mika") == raised and kept.backends() == {"piper"}

    def test_a_backend_configured_by_name_that_fails_moves_nobody(self) -> None:
        book = VoiceBook.from_parameters({"mika": {"backend": "kokoro"}}, {}, "piper", "espeak")
        assert book.backend_failed("kokoro") == []
        assert book.resolve("mika").backend == "kokoro"  # the node's fallback speaks for her

    def test_a_persona_configured_keeps_its_own_voice(self) -> None:
        book = VoiceBook.from_parameters({"mika": {"backend": "piper"}}, {}, "piper", "espeak")
        assert book.resolve("mika") == PersonaVoice("piper", PiperVoiceOptions())
        assert book.backends() == {"piper"}


class TestFromParameters:
    def test_a_set_keeps_the_presets_given(self) -> None:
        book = VoiceBook.from_parameters({}, {}, "piper", "espeak")
        book.resolve("hana")
        book.resolve("kit")
        moved = VoiceBook.from_parameters({}, {}, "espeak", "espeak", keep=book)
        assert (moved.resolve("kit").backend, moved.resolve("kit").options.pitch) == ("espeak", 70)
        assert moved.resolve("hana").options.pitch == 45

    @pytest.mark.parametrize(("arguments", "message"), [
        # an alias's settings are checked by its kind
        (({}, {"fish": {"kind": "fish_speech", "urll": "x"}}, "piper", "espeak"),
         r"backends\.fish: TTS backend 'fish_speech' settings: Object contains unknown field "
         r"`urll`"),
        (({}, {}, "pipr", "espeak"), r"default_backend 'pipr': unknown TTS backend 'pipr'"),
        (({}, {}, "piper", "espeek"), r"fallback 'espeek': unknown TTS backend 'espeek'"),
        (({"kit": {"backend": "nope"}}, {}, "piper", ""),
         r"voices\.kit: TTS backend 'nope': unknown TTS backend 'nope'"),
    ])
    def test_refused(self, arguments: tuple[Any, ...], message: str) -> None:
        with pytest.raises(ParameterError, match=message):
            VoiceBook.from_parameters(*arguments)


class TestParseVoices:
    def test_fields_are_checked(self) -> None:
        with pytest.raises(ParameterError, match=r"voices\.kit: Object contains unknown field "
                                                 r"`colour`"):
            parse_voices({"kit": {"colour": "blue"}})

    def test_a_field_of_another_backend_names_persona_backend_and_field(self) -> None:
        # pitch is espeak's: on Piper it is a mistake, not something silently ignored
        with pytest.raises(ParameterError, match=(
                r"voices\.kit: Object contains unknown field `pitch` \(persona kit speaks "
                r"with TTS backend 'piper', whose voice fields are: voice, speaker_id, "
                r"length_scale, pitch_ratio, noise_scale, noise_w_scale; and every backend's: "
                r"backend, "
                r"fallback_voice\)")):
            parse_voices({"kit": {"backend": "piper", "pitch": 80}})

    def test_an_alias_is_checked_by_its_kind(self) -> None:
        backends = {"fish": {"kind": "fish_speech", "url": "http://gpu:8080"}}
        with pytest.raises(ParameterError, match=r"TTS backend 'fish' \(kind fish_speech\)"):
            parse_voices({"kit": {"backend": "fish", "length_scale": 0.9}}, backends)
        assert parse_voices({"kit": {"backend": "fish", "reference_audio": "/v/kit.wav"}},
                            backends) == {"kit": PersonaVoice(
                                "fish", FishSpeechVoiceOptions(reference_audio="/v/kit.wav"))}

    def test_parsed(self) -> None:
        assert parse_voices({"kit": {"backend": "espeak", "pitch": 80}}) == {
            "kit": PersonaVoice("espeak", EspeakVoiceOptions(pitch=80))}

    def test_not_a_table(self) -> None:
        with pytest.raises(ParameterError, match=r"voices\.kit: expected a table of voice "
                                                 r"fields, got str"):
            parse_voices({"kit": "espeak"})
