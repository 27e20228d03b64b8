"""What a tool's JSON schema (`messages.llm.ToolSpec.parameters`, `messages.game.GameAction.schema`)
may use, and what constrained decoding makes of it.

The LLM node decodes a call under its tool's schema (llama.cpp's ``response_format``, vLLM's
guided decoding), so the call is valid by construction, for the keywords in
`CONSTRAINABLE_KEYWORDS`. Any other JSON Schema keyword (``pattern``, ``$ref``, ``oneOf``...) is
left out of the decoding and checked afterwards: the call is validated and, when it is
invalid, not made. The game node's Neuro server names those keywords when a game registers
them; the LLM node says them once and validates. One list for both, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ANNOTATIONS", "CONSTRAINABLE_KEYWORDS", "SCHEMA_KEYWORDS", "unconstrainable_keywords"]

CONSTRAINABLE_KEYWORDS = frozenset({
    "type", "properties", "required", "enum", "const", "items", "minItems", "maxItems",
    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "additionalProperties",
})
"""Keywords a JSON-schema grammar (llama.cpp's ``response_format``, vLLM's guided decoding)
turns into constrained decoding (``items`` and ``additionalProperties`` in their simple
forms: one schema for every item, a boolean)."""

ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "$comment", "$schema", "deprecated",
    "readOnly", "writeOnly",
})
"""Keywords that describe and constrain nothing: no decoding needs them."""

SCHEMA_KEYWORDS = frozenset({
    "$ref", "$defs", "definitions", "$dynamicRef", "$dynamicAnchor", "$anchor", "$id",
    "$vocabulary", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    "dependentSchemas", "dependentRequired", "dependencies", "prefixItems", "contains",
    "minContains", "maxContains", "uniqueItems", "patternProperties", "propertyNames",
    "unevaluatedItems", "unevaluatedProperties", "additionalItems", "multipleOf", "pattern",
    "format", "maxProperties", "minProperties", "contentEncoding", "contentMediaType",
    "contentSchema",
})
"""The other JSON Schema keywords: validated, not constrained. A key that is none of these
is no keyword (a vendor's ``x-...``) and constrains nothing."""


def unconstrainable_keywords(schema: Mapping[str, Any]) -> list[str]:
    """The JSON Schema keywords in ``schema`` (at any depth) that constrained decoding
    cannot follow, sorted. Property names are names, not keywords."""
    found: set[str] = set()
    _walk(schema, found)
    return sorted(found)


def _walk(schema: Mapping[str, Any], found: set[str]) -> None:
    for key, value in schema.items():
        if key == "properties" and isinstance(value, Mapping):
            for sub in value.values():
                if isinstance(sub, Mapping):
                    _walk(sub, found)
        elif key == "items" and isinstance(value, Mapping):
            _walk(value, found)
        elif key == "additionalProperties" and not isinstance(value, bool):
            found.add(key)  # a schema for the extra properties: beyond a simple grammar
        elif key == "items" and not isinstance(value, Mapping):
            found.add(key)  # the old tuple form, one schema per position
        elif key in SCHEMA_KEYWORDS:
            found.add(key)
