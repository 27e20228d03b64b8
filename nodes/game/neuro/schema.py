"""The JSON schemas games register: checked once, every call validated against them.

A game's schema is outside input: it is checked when it is registered (a valid JSON schema
of an object, not too large) and compiled once. Every call the player makes is validated
against it *before* it goes to the game, so a game only ever receives data matching what it
asked for. Keywords that constrained decoding cannot follow are named: that action's calls
are then validated and retried instead of being correct by construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from messages.toolschema import CONSTRAINABLE_KEYWORDS, unconstrainable_keywords

__all__ = [
    "CONSTRAINABLE_KEYWORDS",
    "NO_ARGUMENTS",
    "CheckedSchema",
    "SchemaRefused",
    "check_schema",
    "listed_choices",
    "unconstrainable_keywords",
]

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}
"""The tool schema of an action registered without one (the game wants no data)."""

MAX_LISTED_CHOICES = 64
"""More combinations than this are not listed (a persona reads every one in its prompt)."""


class SchemaRefused(ValueError):
    """A registered schema that cannot be used: not a valid JSON schema, not an object's."""


@dataclass(frozen=True)
class CheckedSchema:
    """A registered action's schema, checked and compiled once."""

    schema: dict[str, Any]
    """As the game registered it (`NO_ARGUMENTS` when it gave none)."""
    validator: Validator
    unconstrained: tuple[str, ...]
    """Keywords constrained decoding cannot follow (sorted); empty: calls are legal by
    construction."""
    has_arguments: bool
    """False: the game gave no schema, the ``action`` goes out without ``data``."""

    def problem(self, arguments: Any) -> str | None:
        """Why ``arguments`` do not match, in a line a player can act on; None: they do."""
        error = best_match(self.validator.iter_errors(arguments))
        if error is None:
            return None
        return f"{error.json_path}: {error.message}"[:300]


def check_schema(schema: Mapping[str, Any] | None, max_chars: int) -> CheckedSchema:
    """``schema`` checked and compiled.

    Raises
    ------
    SchemaRefused
        Larger than ``max_chars`` as JSON, not a valid JSON schema, or not an object's schema
        (the spec: ``"type": "object"``).
    """
    if not schema:
        return CheckedSchema(NO_ARGUMENTS, Draft202012Validator(NO_ARGUMENTS), (), False)
    raw = dict(schema)
    size = len(msgspec.json.encode(raw))
    if size > max_chars:
        raise SchemaRefused(f"schema of {size} characters, more than {max_chars}")
    if raw.get("type") != "object":
        raise SchemaRefused(f"schema type {raw.get('type')!r}; the spec wants \"object\"")
    cls = validator_for(raw, default=Draft202012Validator)
    try:
        cls.check_schema(raw)
    except SchemaError as exc:
        raise SchemaRefused(f"not a valid JSON schema: {exc.message}") from None
    validator = cls(raw, format_checker=cls.FORMAT_CHECKER)
    return CheckedSchema(raw, validator, tuple(unconstrainable_keywords(raw)), True)


def listed_choices(checked: CheckedSchema) -> list[dict[str, Any]]:
    """Every legal argument object when the schema names them all (each property an
    ``enum``, a ``const`` or a boolean), in the game's order; ``[{}]`` for an action without
    arguments; empty when they cannot be listed (free text, numbers, too many)."""
    properties = checked.schema.get("properties") or {}
    if not isinstance(properties, Mapping):
        return []
    values: list[list[Any]] = []
    for sub in properties.values():
        if not isinstance(sub, Mapping):
            return []
        if isinstance(sub.get("enum"), list):
            values.append(list(sub["enum"]))
        elif "const" in sub:
            values.append([sub["const"]])
        elif sub.get("type") == "boolean":
            values.append([True, False])
        else:
            return []
    count = 1
    for options in values:
        count *= len(options)
    if count > MAX_LISTED_CHOICES:
        return []
    names = list(properties)
    choices = [dict(zip(names, combination, strict=True))
               for combination in itertools.product(*values)]
    return [choice for choice in choices if checked.problem(choice) is None]
