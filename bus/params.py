"""Node parameters: declared with a default that fixes their type, overridden from the launch
file or command line, changeable at run time through ``vtparam`` with validation."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from bus.errors import ParameterError

__all__ = ["ParameterStore", "SetCallback", "parse_assignment", "redacted"]

SetCallback = Callable[[dict[str, Any]], "tuple[bool, str] | None"]
"""Called with the new values before they are applied; return ``(False, reason)`` to refuse."""

_SECRET_WORDS = ("token", "secret", "password", "api_key", "apikey", "credential")


def redacted(name: str, value: Any) -> Any:
    """The value to show for a parameter: secrets never leave the node."""
    return "***" if any(w in name.lower() for w in _SECRET_WORDS) and value else value


def parse_assignment(text: str, *, what: str = "parameter") -> tuple[str, Any]:
    """``name:=value`` with the value read as JSON when it parses, else as a string."""
    name, sep, raw = text.partition(":=")
    if not sep or not name:
        raise ParameterError(f"{what} {text!r} must look like name:=value")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


@dataclass
class _Declared:
    value: Any
    type: type
    description: str
    read_only: bool


class ParameterStore:
    """The parameters of one node.

    Parameters
    ----------
    node:
        The node's name, for error messages.
    overrides:
        Values given from outside; applied when the parameter is declared.
    """

    def __init__(self, node: str, overrides: Mapping[str, Any] | None = None):
        self.node = node
        self.overrides = dict(overrides or {})
        self._declared: dict[str, _Declared] = {}
        self._callbacks: list[SetCallback] = []

    def declare(
        self, name: str, default: Any, description: str = "", *, read_only: bool = False
    ) -> Any:
        """Declare ``name``; the override (converted to the default's type) wins over the default."""
        if name in self._declared:
            raise ParameterError(f"node {self.node}: parameter {name!r} is declared twice")
        kind = type(default)
        value = self._convert(name, kind, self.overrides.get(name, default))
        self._declared[name] = _Declared(value, kind, description, read_only)
        return value

    def get(self, name: str) -> Any:
        try:
            return self._declared[name].value
        except KeyError:
            raise ParameterError(
                f"node {self.node} has no parameter {name!r} (it has: {', '.join(self._declared)})"
            ) from None

    def add_on_set(self, callback: SetCallback) -> None:
        self._callbacks.append(callback)

    def set(self, values: Mapping[str, Any]) -> tuple[bool, str]:
        """Validate and apply new values all at once; nothing changes when any is refused."""
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            declared = self._declared.get(name)
            if declared is None:
                return False, f"node {self.node} has no parameter {name!r}"
            if declared.read_only:
                return False, f"parameter {name!r} of node {self.node} is read-only"
            try:
                converted[name] = self._convert(name, declared.type, raw)
            except ParameterError as exc:
                return False, str(exc)
        for callback in self._callbacks:
            verdict = callback(converted)
            if verdict is not None and not verdict[0]:
                return False, verdict[1]
        for name, value in converted.items():
            self._declared[name].value = value
        return True, ""

    def unknown_overrides(self) -> list[str]:
        """Overrides that name no declared parameter (usually a typo in the launch file)."""
        return sorted(set(self.overrides) - set(self._declared))

    def values(self, names: list[str] | None = None, *, redact: bool = True) -> dict[str, Any]:
        chosen = names or list(self._declared)
        out = {}
        for name in chosen:
            value = self.get(name)
            out[name] = redacted(name, value) if redact else value
        return out

    def descriptions(self) -> dict[str, str]:
        return {name: d.description for name, d in self._declared.items()}

    def _convert(self, name: str, kind: type, value: Any) -> Any:
        try:
            return msgspec.convert(value, kind, strict=False)
        except msgspec.ValidationError as exc:
            raise ParameterError(
                f"parameter {name!r} of node {self.node}: expected {kind.__name__}, "
                f"got {value!r} ({exc})"
            ) from None
