"""One way to plug things in: backends, sources and games, one file each, one registry line.

A plug-in is a class in its own module with a typed ``Settings`` Struct and a constructor
that takes an instance of it (models are loaded there, never at import; heavy packages are
imported there too, with an ImportError naming the extra to install). A family of plug-ins
is a `Registry` of ``kind -> "module:Class"`` lines; the module is imported only when its
kind is used, so a CPU machine never imports what only a GPU host has::

    BACKENDS = Registry[TtsBackend]("TTS backend", {
        "piper": "nodes.tts.backends.piper:PiperBackend",
        "tone": "nodes.tts.backends.tone:ToneBackend",
    })
    backend = BACKENDS.load("piper", {"model": "..."})      # settings checked by PiperSettings

Adding a plug-in is its file plus its line. The settings a launch file gives are converted
with msgspec, so a typo or a wrong type is a `PluginError` that names the family, the kind,
the field and what was expected.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

from bus.errors import PluginError

__all__ = ["Registry", "convert_settings"]

P = TypeVar("P")
S = TypeVar("S", bound=msgspec.Struct)


def convert_settings(struct: type[S], raw: Mapping[str, Any] | S | None, *, what: str) -> S:
    """``raw`` (a launch file's table, or the Struct itself) as ``struct``; a `PluginError`
    that starts with ``what`` otherwise."""
    if isinstance(raw, struct):
        return raw
    assert not isinstance(raw, msgspec.Struct), f"{what}: {type(raw).__name__} is not settings"
    try:
        return msgspec.convert(dict(raw or {}), struct, strict=False)
    except msgspec.ValidationError as exc:
        known = ", ".join(struct.__struct_fields__) or "none"
        raise PluginError(f"{what} settings: {exc} (its settings: {known})") from None


class Registry(Generic[P]):
    """The kinds of one family of plug-ins.

    Parameters
    ----------
    family:
        What its members are, for messages ("TTS backend", "chat source").
    entries:
        kind -> ``"module:Class"``; each class has a ``Settings`` Struct and takes an
        instance of it as its first argument.
    """

    def __init__(self, family: str, entries: Mapping[str, str]):
        self.family = family
        self.entries = dict(entries)

    def kinds(self) -> list[str]:
        return list(self.entries)

    def __contains__(self, kind: object) -> bool:
        return kind in self.entries

    def plugin_class(self, kind: str) -> type[P]:
        """The class of ``kind``, its module imported now.

        Raises
        ------
        PluginError
            An unknown kind (the known ones are listed), or a module that fails to import.
        """
        target = self.entries.get(kind)
        if target is None:
            raise PluginError(f"unknown {self.family} {kind!r}; known: {', '.join(self.entries)}")
        module_name, _, class_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PluginError(f"{self.family} {kind!r} cannot be imported: {exc}") from None
        cls: type[P] = getattr(module, class_name)
        return cls

    def settings(self, kind: str, raw: Mapping[str, Any] | None = None,
                 attr: str = "Settings") -> Any:
        """``raw`` checked and converted by the ``attr`` Struct of ``kind`` (``Settings``, or
        another per-plug-in Struct such as a TTS backend's ``Voice``)."""
        struct = getattr(self.plugin_class(kind), attr)
        return convert_settings(struct, raw, what=f"{self.family} {kind!r}")

    def load(self, kind: str, raw: Mapping[str, Any] | None = None, *args: Any,
             **kwargs: Any) -> P:
        """A new ``kind``, built from its settings (and whatever else its constructor takes).

        Raises
        ------
        PluginError
            Unknown kind, settings its Struct refuses, a module that does not import. A
            plug-in's own failure to load (a missing model, an unreachable server) is its own
            error, which should derive from `PluginError` too.
        """
        cls = self.plugin_class(kind)
        settings = self.settings(kind, raw)
        return cls(settings, *args, **kwargs)  # type: ignore[call-arg]
