"""Parameters: declared types, overrides, run-time changes and refusals."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from bus.errors import ParameterError
from bus.params import (
    Parameters,
    ParameterStore,
    at_start,
    check_values,
    declarations,
    live,
    parse_assignment,
    redacted,
)


class TestParseAssignment:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("rate:=5", ("rate", 5)),  # JSON number
            ("name:=alice", ("name", "alice")),  # not JSON: a string
            ('list:=["a", 1]', ("list", ["a", 1])),
            ("flag:=true", ("flag", True)),
            ("empty:=", ("empty", "")),
        ],
    )
    def test_values(self, text: str, expected: tuple[str, object]) -> None:
        assert parse_assignment(text) == expected

    def test_missing_operator(self) -> None:
        with pytest.raises(ParameterError, match="must look like name:=value"):
            parse_assignment("rate=5")


class Rates(Parameters):
    rate: Annotated[float, live("messages per second", ge=0)] = 1.0
    name: Annotated[str, live("shown name")] = "x"
    model: Annotated[str, at_start("model file")] = "tiny"
    voices: Annotated[dict[str, Any], live("persona -> voice")] = {}


class Other(Parameters):
    volume: Annotated[float, live("gain")] = 0.5


class TestStore:
    def test_override_is_converted_to_the_declared_type(self) -> None:
        store = ParameterStore("n", {"rate": "5"})
        params = store.declare(Rates)
        assert params.rate == 5.0 and isinstance(params.rate, float)
        assert store.get("rate") == 5.0

    def test_bad_override_names_the_parameter_node_and_type(self) -> None:
        store = ParameterStore("chat", {"rate": "fast"})
        with pytest.raises(ParameterError,
                           match="node chat: parameter 'rate' expects float, got 'fast'"):
            store.declare(Rates)

    def test_a_bound_is_checked(self) -> None:
        with pytest.raises(ParameterError, match=r"parameter 'rate' expects float, got -1 "
                                                 r"\(Expected `float` >= 0.0\)"):
            ParameterStore("n", {"rate": -1}).declare(Rates)

    def test_declared_twice(self) -> None:
        store = ParameterStore("n")
        store.declare(Rates)
        with pytest.raises(ParameterError, match="rate, name, model, voices declared twice"):
            store.declare(Rates)

    def test_unknown_overrides_are_refused_with_a_guess(self) -> None:
        store = ParameterStore("n", {"rate": 1, "raet": 2})
        store.declare(Rates)
        with pytest.raises(ParameterError, match=r"no parameter 'raet' \(did you mean rate\?\)"):
            store.refuse_unknown_overrides()

    def test_overrides_of_a_later_declaration_wait_for_it(self) -> None:
        store = ParameterStore("n", {"rate": 2, "volume": 0.1})
        store.declare(Rates)
        assert store.unknown_overrides() == ["volume"]
        assert store.declare(Other).volume == 0.1
        assert store.unknown_overrides() == []

    def test_set_all_or_nothing(self) -> None:
        store = ParameterStore("n")
        params = store.declare(Rates)
        ok, reason = store.set({"rate": 2, "c": 3})
        assert not ok and "no parameter 'c'" in reason
        assert params.rate == 1.0

    def test_a_set_updates_the_declared_instance_in_place(self) -> None:
        store = ParameterStore("n")
        params = store.declare(Rates)
        assert store.set({"rate": "2.5", "voices": {"mika": "joe"}}) == (True, "")
        assert params.rate == 2.5 and params.voices == {"mika": "joe"}

    def test_a_set_out_of_bounds_is_refused(self) -> None:
        store = ParameterStore("n")
        params = store.declare(Rates)
        ok, reason = store.set({"rate": -3})
        assert not ok and "parameter 'rate' expects float, got -3" in reason
        assert params.rate == 1.0

    def test_validator_can_refuse(self) -> None:
        store = ParameterStore("n")
        other = store.declare(Other)
        store.add_on_set(lambda v: (False, "too loud") if v.get("volume", 0) > 1 else None)
        assert store.set({"volume": 2.0}) == (False, "too loud")
        assert store.set({"volume": 0.8}) == (True, "")
        assert other.volume == 0.8

    def test_at_start_is_refused_with_the_restart_that_changes_it(self) -> None:
        store = ParameterStore("n")
        store.declare(Rates)
        ok, reason = store.set({"model": "large"})
        assert not ok
        assert reason.startswith("model is read at start: restart the node with -p model:=")

    def test_get_unknown_lists_known(self) -> None:
        store = ParameterStore("n")
        store.declare(Other)
        with pytest.raises(ParameterError, match=r"has no parameter 'b'; it has: volume"):
            store.get("b")

    def test_declarations_say_type_default_description_and_kind(self) -> None:
        shown = {d.name: d for d in declarations(Rates)}
        assert (shown["rate"].type, shown["rate"].default, shown["rate"].at_start) == (
            "float", 1.0, False)
        assert shown["model"].at_start and shown["model"].description == "model file"
        assert shown["voices"].type == "dict[str, Any]" and shown["voices"].default == {}

    def test_check_values_without_a_node(self) -> None:
        assert check_values(Rates, {"rate": "3"}, node="n").rate == 3.0  # type: ignore[attr-defined]
        with pytest.raises(ParameterError, match="node n has no parameter 'x'"):
            check_values(Rates, {"x": 1}, node="n")

    @pytest.mark.parametrize(
        ("name", "value", "shown"),
        [
            ("oauth_token", "abc", "***"),
            ("api_key", "k", "***"),
            ("client_secret", "s", "***"),
            ("token_file", "", ""),  # nothing to hide
            ("rate", 5, 5),
        ],
    )
    def test_secrets_are_redacted(self, name: str, value: object, shown: object) -> None:
        assert redacted(name, value) == shown
