"""Node parameters: declared once as a typed Struct, checked before anything starts, live at
run time.

Each node declares its parameters in ``nodes/<name>/params.py`` as a subclass of `Parameters`
named ``Params`` (a one-module node, such as ``nodes.demo.talker``, declares ``Params`` in the
module itself). That module imports nothing heavy, so ``vtlaunch --check``, ``vtnode info``
and the README tables read the declaration without starting the node::

    class Params(Parameters):
        quiet_s: Annotated[float, live("seconds of silence before a new topic", ge=0)] = 20.0
        personas_file: Annotated[str, at_start("persona TOML file")] = ""

Every parameter is one of two kinds, and the kind is part of its declaration:

- `live`: ``vtparam set`` changes what the node does from then on. The node reads
  ``self.params.quiet_s`` where it uses it (the Struct it got from `Node.declare_parameters`
  is updated in place), or applies the new value in its on-set callback.
- `at_start`: read once while the node starts (a model to load, a socket to open). A set is
  refused with the restart that would change it.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from bus.errors import ParameterError
from messages.system import ParameterDeclaration

__all__ = [
    "ParameterStore",
    "Parameters",
    "SetCallback",
    "at_start",
    "check_values",
    "declaration_of",
    "declarations",
    "live",
    "parse_assignment",
    "redacted",
]

SetCallback = Callable[[dict[str, Any]], "tuple[bool, str] | None"]
"""Called with the new values (already converted) before they are applied; return
``(False, reason)`` to refuse them all."""

_SECRET_WORDS = ("token", "secret", "password", "api_key", "apikey", "credential")
_AT_START = "at_start"
_WHERE = re.compile(r" - at `\$\.?([^`]*)`$")


class Parameters(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of a node's parameter declaration: one field per parameter, its default fixing
    its type, its `live` or `at_start` metadata saying what a run-time set does."""


def live(description: str, **constraints: Any) -> msgspec.Meta:
    """Metadata of a parameter that ``vtparam set`` changes at run time.

    ``constraints`` are msgspec's (``ge=0``, ``le=240``, ``min_length=1``...): a value out of
    them is refused at launch and at run time alike.
    """
    return msgspec.Meta(description=description, **constraints)


def at_start(description: str, **constraints: Any) -> msgspec.Meta:
    """Metadata of a parameter read once at start; a run-time set is refused."""
    return msgspec.Meta(description=description, extra={_AT_START: True}, **constraints)


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


def declarations(cls: type[Parameters]) -> list[ParameterDeclaration]:
    """What ``cls`` declares, field by field: for vtnode info, README tables and checks."""
    hints = typing.get_type_hints(cls)
    out = []
    for field in msgspec.inspect.type_info(cls).fields:  # type: ignore[attr-defined]
        info = field.type
        description, extra = "", {}
        if isinstance(info, msgspec.inspect.Metadata):
            description = (info.extra_json_schema or {}).get("description", "")
            extra = info.extra or {}
        default = field.default
        if default is msgspec.NODEFAULT:
            factory = field.default_factory
            default = None if factory is msgspec.NODEFAULT else factory()
        out.append(ParameterDeclaration(
            name=field.name, type=_type_name(hints[field.name]),
            default=msgspec.to_builtins(default), description=description,
            at_start=bool(extra.get(_AT_START, False)),
        ))
    return out


def declaration_of(module: str) -> type[Parameters] | None:
    """The ``Params`` that the node module ``module`` declares (``MODULE.params.Params`` for
    a package such as ``nodes.director``, ``MODULE.Params`` for a one-module node such as
    ``nodes.demo.talker``); None when it declares none."""
    found = importlib.util.find_spec(module)
    if found is None:
        return None
    target = f"{module}.params" if found.submodule_search_locations is not None else module
    try:
        declared = getattr(importlib.import_module(target), "Params", None)
    except ModuleNotFoundError as exc:
        if exc.name == target:
            return None
        raise
    if isinstance(declared, type) and issubclass(declared, Parameters):
        return declared
    return None


def check_values(cls: type[Parameters], values: Mapping[str, Any], *, node: str) -> Parameters:
    """``values`` converted to ``cls`` (numbers from strings, as launch arguments arrive).

    Raises
    ------
    ParameterError
        A name ``cls`` does not declare, or a value of the wrong type or out of its bounds;
        the message names the node, the parameter, what was expected and what arrived.
    """
    known = [f for f in cls.__struct_fields__]
    for name in values:
        if name not in known:
            raise ParameterError(_unknown(node, name, known))
    try:
        return msgspec.convert(dict(values), cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ParameterError(_invalid(node, cls, values, exc)) from None


P = typing.TypeVar("P", bound=Parameters)


class ParameterStore:
    """The parameters of one node: the Structs it declared, updated in place by sets.

    Parameters
    ----------
    node:
        The node's name, for error messages.
    overrides:
        Values given from outside (launch file, command line); applied when declared.
    """

    def __init__(self, node: str, overrides: Mapping[str, Any] | None = None):
        self.node = node
        self.overrides = dict(overrides or {})
        self._owner: dict[str, Parameters] = {}
        """parameter name -> the declared Struct that holds it"""
        self._declared: dict[str, ParameterDeclaration] = {}
        self._callbacks: list[SetCallback] = []

    def declare(self, cls: type[P]) -> P:
        """An instance of ``cls`` holding the overrides it declares (defaults for the rest);
        sets update this very instance, so reading its fields gives the current values."""
        names = list(cls.__struct_fields__)
        twice = [n for n in names if n in self._owner]
        if twice:
            raise ParameterError(f"node {self.node}: {', '.join(twice)} declared twice")
        given = {n: self.overrides[n] for n in names if n in self.overrides}
        values = check_values(cls, given, node=self.node)
        for declaration in declarations(cls):
            self._declared[declaration.name] = declaration
            self._owner[declaration.name] = values
        return values  # type: ignore[return-value]

    def get(self, name: str) -> Any:
        owner = self._owner.get(name)
        if owner is None:
            raise ParameterError(_unknown(self.node, name, list(self._owner)))
        return getattr(owner, name)

    def add_on_set(self, callback: SetCallback) -> None:
        self._callbacks.append(callback)

    def set(self, values: Mapping[str, Any]) -> tuple[bool, str]:
        """Validate and apply new values all at once; nothing changes when any is refused."""
        converted: dict[str, Any] = {}
        by_owner: dict[int, dict[str, Any]] = {}
        for name, raw in values.items():
            owner = self._owner.get(name)
            if owner is None:
                return False, _unknown(self.node, name, list(self._owner))
            if self._declared[name].at_start:
                return False, (f"{name} is read at start: restart the node with "
                               f"-p {name}:=VALUE (vtnode restart {self.node}, or in the "
                               "launch file)")
            by_owner.setdefault(id(owner), {})[name] = raw
        for changes in by_owner.values():
            owner = self._owner[next(iter(changes))]
            try:
                checked = check_values(type(owner), {**msgspec.structs.asdict(owner), **changes},
                                       node=self.node)
            except ParameterError as exc:
                return False, str(exc)
            converted.update({name: getattr(checked, name) for name in changes})
        for callback in self._callbacks:
            verdict = callback(converted)
            if verdict is not None and not verdict[0]:
                return False, verdict[1]
        for name, value in converted.items():
            setattr(self._owner[name], name, value)
        return True, ""

    def unknown_overrides(self) -> list[str]:
        """Overrides that name no declared parameter (a typo the launch check did not see)."""
        return sorted(set(self.overrides) - set(self._owner))

    def refuse_unknown_overrides(self) -> None:
        """Raise `ParameterError` for the first override no declaration took, once every
        parameter is declared (the node starts)."""
        for name in self.unknown_overrides():
            raise ParameterError(_unknown(self.node, name, list(self._owner)))

    def values(self, names: list[str] | None = None, *, redact: bool = True) -> dict[str, Any]:
        out = {}
        for name in names or list(self._owner):
            value = msgspec.to_builtins(self.get(name))
            out[name] = redacted(name, value) if redact else value
        return out

    def descriptions(self) -> dict[str, str]:
        return {name: d.description for name, d in self._declared.items()}

    def declared(self) -> list[ParameterDeclaration]:
        return [_redact_default(d) for d in self._declared.values()]


def _redact_default(declaration: ParameterDeclaration) -> ParameterDeclaration:
    shown = redacted(declaration.name, declaration.default)
    return declaration if shown is declaration.default else msgspec.structs.replace(
        declaration, default=shown)


def _unknown(node: str, name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=3, cutoff=0.7)
    near += [k for k in known if k not in near and (name in k or k in name)]
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return f"node {node} has no parameter {name!r}{hint}; it has: {', '.join(sorted(known))}"


def _invalid(node: str, cls: type[Parameters], values: Mapping[str, Any],
             exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `float`, got `str` - at `$.quiet_s`", said of the parameter."""
    text = str(exc)
    where = _WHERE.search(text)
    if where is None:
        return f"node {node}: parameters: {text}"
    path = where.group(1)  # quiet_s, or voices.mika.rate inside one
    name = re.split(r"[.\[]", path)[0]
    expected = _type_name(typing.get_type_hints(cls)[name])
    got = f", got {values[name]!r}" if name in values else ""
    inside = f" at {path}" if path != name else ""
    return (f"node {node}: parameter {name!r} expects {expected}{got} "
            f"({text[:where.start()]}{inside})")


def _type_name(hint: Any) -> str:
    """``float``, ``dict[str, Any]``, ``list[str]``: as a person writes it."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    text = str(hint).replace("typing.", "")
    return re.sub(r"<class '([^']+)'>", r"\1", text)
