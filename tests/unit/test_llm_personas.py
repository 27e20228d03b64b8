"""Persona config: the defaults, TOML files and inline tables, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.llm.personas import DEFAULT_PERSONAS, PersonaError, Sampling, load_personas

TWO = """
[[persona]]
name = "mika"
adapter = "mika-v2"
system_prompt = "You are Mika, version two."
stop = ["\\nViewer:"]
max_sentences = 2
[persona.sampling]
temperature = 1.1
seed = 7

[[persona]]
name = "zed"
system_prompt = "You are Zed."
"""


class TestDefaults:
    def test_two_personas_with_distinct_voices(self) -> None:
        personas = load_personas()
        assert sorted(personas) == ["mika", "rook"]
        mika, rook = personas["mika"], personas["rook"]
        assert mika.system_prompt != rook.system_prompt
        assert mika.adapter != rook.adapter
        assert mika.sampling.temperature != rook.sampling.temperature
        assert "Rook" in mika.system_prompt and "Mika" in rook.system_prompt

    def test_speaker_name_defaults_to_the_capitalised_name(self) -> None:
        assert DEFAULT_PERSONAS[0].speaker == "Mika"


class TestLoading:
    def test_a_file_replaces_and_extends_the_defaults(self, tmp_path: Path) -> None:
        path = tmp_path / "personas.toml"
        path.write_text(TWO)
        personas = load_personas(path)
        assert sorted(personas) == ["mika", "rook", "zed"]
        mika = personas["mika"]
        assert mika.adapter == "mika-v2"
        assert mika.stop == ["\nViewer:"]
        assert mika.sampling == Sampling(temperature=1.1, seed=7)
        assert personas["zed"].max_sentences == 0

    def test_inline_wins_over_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / "personas.toml"
        path.write_text(TWO)
        inline = '[[persona]]\nname = "zed"\nsystem_prompt = "Inline Zed."\n'
        assert load_personas(path, inline)["zed"].system_prompt == "Inline Zed."

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(PersonaError, match=r"persona file .*nope.toml: No such file"):
            load_personas(tmp_path / "nope.toml")

    def test_not_toml(self) -> None:
        with pytest.raises(PersonaError, match="inline personas parameter: not TOML"):
            load_personas(inline="[[persona]\nname=")

    def test_an_unknown_sampling_field_is_named(self) -> None:
        typo = '[[persona]]\nname="a"\nsystem_prompt="b"\n[persona.sampling]\ntemprature=1.0\n'
        with pytest.raises(PersonaError, match=r"unknown field `temprature` - at "
                                               r"`\$.persona\[0\].sampling`"):
            load_personas(inline=typo)

    def test_the_director_s_fields_are_ignored(self) -> None:
        # one persona file for every node: the director reads aliases, traits, voice...
        shared = ('[[persona]]\nname="a"\nsystem_prompt="b"\naliases=["ay"]\n'
                  'traits=["dry"]\nvoice="a"\navatar="a"\ntopics=["space"]\n')
        assert load_personas(inline=shared)["a"].system_prompt == "b"

    def test_a_mistyped_field_is_named(self) -> None:
        bad = '[[persona]]\nname="a"\nsystem_prompt="b"\n[persona.sampling]\ntemperature="hot"\n'
        with pytest.raises(PersonaError, match=r"Expected `float`, got `str` - at "
                                               r"`\$.persona\[0\].sampling.temperature`"):
            load_personas(inline=bad)

    def test_a_missing_prompt_is_named(self) -> None:
        with pytest.raises(PersonaError, match="missing required field `system_prompt`"):
            load_personas(inline='[[persona]]\nname="a"\n')

    def test_duplicates_are_refused(self) -> None:
        twice = '[[persona]]\nname="a"\nsystem_prompt="b"\n' * 2
        with pytest.raises(PersonaError, match="persona 'a' is defined twice"):
            load_personas(inline=twice)

    def test_empty_names_are_refused(self) -> None:
        with pytest.raises(PersonaError, match="a persona has an empty name"):
            load_personas(inline='[[persona]]\nname=" "\nsystem_prompt="b"\n')
