"""bus.plugins: one registry line per plug-in, settings checked by its own Struct."""

from __future__ import annotations

import msgspec
import pytest

from bus.errors import PluginError
from bus.plugins import Registry, convert_settings


class EchoSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    times: int = 1


class Echo:
    Settings = EchoSettings

    def __init__(self, settings: EchoSettings, prefix: str = ""):
        self.settings = settings
        self.prefix = prefix

    def say(self, text: str) -> str:
        return self.prefix + text * self.settings.times


ECHOES = Registry[Echo]("echo", {
    "echo": f"{__name__}:Echo",
    "ghost": "tests.unit.no_such_module:Ghost",
})


class TestRegistry:
    def test_load_converts_settings_and_passes_the_rest(self) -> None:
        echo = ECHOES.load("echo", {"times": "2"}, prefix="> ")
        assert echo.say("ab") == "> abab"

    def test_unknown_kind_lists_the_known(self) -> None:
        with pytest.raises(PluginError, match=r"unknown echo 'eco'; known: echo, ghost"):
            ECHOES.load("eco")

    def test_bad_settings_name_the_field_and_the_known_ones(self) -> None:
        with pytest.raises(PluginError, match=r"echo 'echo' settings: Object contains unknown "
                                              r"field `time` \(its settings: times\)"):
            ECHOES.load("echo", {"time": 2})
        with pytest.raises(PluginError, match=r"Expected `int`, got `str` - at `\$.times`"):
            ECHOES.settings("echo", {"times": "often"})

    def test_a_module_that_does_not_import_is_a_plugin_error(self) -> None:
        with pytest.raises(PluginError, match="echo 'ghost' cannot be imported: No module"):
            ECHOES.load("ghost")

    def test_kinds_and_membership(self) -> None:
        assert ECHOES.kinds() == ["echo", "ghost"]
        assert "echo" in ECHOES and "nope" not in ECHOES

    def test_a_struct_passes_through(self) -> None:
        settings = EchoSettings(times=3)
        assert convert_settings(EchoSettings, settings, what="echo") is settings
