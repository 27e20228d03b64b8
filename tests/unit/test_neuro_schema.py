"""nodes/game/neuro/schema.py: registered schemas checked once, calls validated against
them, the keywords constrained decoding cannot follow named, enum choices listed."""

from __future__ import annotations

import pytest

from nodes.game.neuro.schema import (
    NO_ARGUMENTS,
    SchemaRefused,
    check_schema,
    listed_choices,
    unconstrainable_keywords,
)

CELLS = {"type": "object", "properties": {"cell": {"type": "integer", "enum": [1, 5, 9]}},
         "required": ["cell"]}


class TestCheck:
    @pytest.mark.parametrize("schema", [None, {}])
    def test_no_schema_means_no_arguments(self, schema) -> None:
        checked = check_schema(schema, 1000)
        assert (checked.schema, checked.has_arguments) == (NO_ARGUMENTS, False)
        assert checked.problem({}) is None

    @pytest.mark.parametrize(("schema", "words"), [
        ({"type": "string"}, "the spec wants \"object\""),
        ({"properties": {}}, "the spec wants \"object\""),
        ({"type": "object", "properties": 5}, "not a valid JSON schema"),
        ({"type": "object", "required": "cell"}, "not a valid JSON schema"),
        ({"type": "object", "description": "x" * 5000}, "more than 1000"),
    ])
    def test_refused(self, schema, words: str) -> None:
        with pytest.raises(SchemaRefused, match=words.replace("(", r"\(")):
            check_schema(schema, 1000)

    def test_problem_says_where_and_what(self) -> None:
        checked = check_schema(CELLS, 1000)
        assert checked.problem({"cell": 5}) is None
        assert checked.problem({"cell": 4}) == "$.cell: 4 is not one of [1, 5, 9]"
        assert checked.problem({}) == "$: 'cell' is a required property"

    def test_format_is_checked(self) -> None:
        checked = check_schema({"type": "object", "properties": {
            "at": {"type": "string", "format": "date"}}}, 1000)
        assert checked.problem({"at": "2025-01-02"}) is None
        assert checked.problem({"at": "yesterday"}) is not None


class TestConstrainable:
    @pytest.mark.parametrize(("schema", "keywords"), [
        # what a grammar follows: nothing to report
        (CELLS, []),
        ({"type": "object", "properties": {"name": {"type": "string", "maxLength": 10},
                                           "n": {"type": "number", "minimum": 0}},
          "additionalProperties": False, "title": "t", "description": "d"}, []),
        # a property *named* like a keyword is a name
        ({"type": "object", "properties": {"pattern": {"type": "string"},
                                           "oneOf": {"type": "integer"}}}, []),
        # keywords beyond a grammar, at any depth
        ({"type": "object", "properties": {"square": {"type": "string",
                                                      "pattern": "^[a-h][1-8]$"}}}, ["pattern"]),
        ({"type": "object", "properties": {"x": {"oneOf": [{"type": "integer"}]}},
          "$defs": {"a": {"type": "string"}}}, ["$defs", "oneOf"]),
        ({"type": "object", "properties": {"list": {"type": "array", "items": {
            "$ref": "#/$defs/a"}}}}, ["$ref"]),
        ({"type": "object", "additionalProperties": {"type": "string"}}, ["additionalProperties"]),
        # a vendor key constrains nothing
        ({"type": "object", "x-ui": {"pattern": 1}}, []),
    ])
    def test_keywords(self, schema, keywords: list[str]) -> None:
        assert unconstrainable_keywords(schema) == keywords
        assert list(check_schema(schema, 10_000).unconstrained) == keywords


class TestChoices:
    def test_enum_in_the_games_order(self) -> None:
        assert listed_choices(check_schema(CELLS, 1000)) == [{"cell": 1}, {"cell": 5},
                                                             {"cell": 9}]

    def test_product_of_enums_consts_and_booleans(self) -> None:
        schema = {"type": "object", "properties": {"item": {"enum": ["gun", "beer"]},
                                                   "on": {"const": "self"},
                                                   "confirm": {"type": "boolean"}}}
        assert len(listed_choices(check_schema(schema, 1000))) == 4

    def test_choice_breaking_another_keyword_is_left_out(self) -> None:
        schema = {"type": "object", "properties": {"word": {"enum": ["ab", "abcdef"],
                                                            "maxLength": 3}}}
        assert listed_choices(check_schema(schema, 1000)) == [{"word": "ab"}]

    def test_no_arguments_is_one_choice(self) -> None:
        assert listed_choices(check_schema(None, 1000)) == [{}]

    @pytest.mark.parametrize("schema", [
        {"type": "object", "properties": {"name": {"type": "string"}}},  # free text
        {"type": "object", "properties": {"a": {"enum": list(range(10))},
                                          "b": {"enum": list(range(10))}}},  # 100 > 64
    ])
    def test_not_listed(self, schema) -> None:
        assert listed_choices(check_schema(schema, 1000)) == []
