"""Parameters: declared types, overrides, run-time changes and refusals."""

from __future__ import annotations

import pytest

from bus.errors import ParameterError
from bus.params import ParameterStore, parse_assignment, redacted


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


class TestStore:
    def test_override_is_converted_to_the_default_type(self) -> None:
        store = ParameterStore("n", {"rate": "5"})
        assert store.declare("rate", 1.0) == 5.0
        assert isinstance(store.get("rate"), float)

    def test_bad_override_names_the_parameter_and_node(self) -> None:
        store = ParameterStore("chat", {"rate": "fast"})
        with pytest.raises(ParameterError, match="parameter 'rate' of node chat: expected float"):
            store.declare("rate", 1.0)

    def test_declared_twice(self) -> None:
        store = ParameterStore("n")
        store.declare("a", 1)
        with pytest.raises(ParameterError, match="declared twice"):
            store.declare("a", 2)

    def test_unknown_overrides_are_reported(self) -> None:
        store = ParameterStore("n", {"rate": 1, "raet": 2})
        store.declare("rate", 0)
        assert store.unknown_overrides() == ["raet"]

    def test_set_all_or_nothing(self) -> None:
        store = ParameterStore("n")
        store.declare("a", 1)
        store.declare("b", "x")
        ok, reason = store.set({"a": 2, "c": 3})
        assert not ok and "no parameter 'c'" in reason
        assert store.get("a") == 1

    def test_validator_can_refuse(self) -> None:
        store = ParameterStore("n")
        store.declare("volume", 0.5)
        store.add_on_set(lambda v: (False, "too loud") if v.get("volume", 0) > 1 else None)
        assert store.set({"volume": 2.0}) == (False, "too loud")
        assert store.set({"volume": 0.8}) == (True, "")
        assert store.get("volume") == 0.8

    def test_read_only(self) -> None:
        store = ParameterStore("n")
        store.declare("model", "tiny", read_only=True)
        ok, reason = store.set({"model": "large"})
        assert not ok and "read-only" in reason

    def test_get_unknown_lists_known(self) -> None:
        store = ParameterStore("n")
        store.declare("a", 1)
        with pytest.raises(ParameterError, match=r"has no parameter 'b' \(it has: a\)"):
            store.get("b")

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
