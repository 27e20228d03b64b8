"""nodes.watch.capture and params: what the ``source`` parameter names, and what is refused
(by the launch check too)."""

from __future__ import annotations

import pytest

from bus.errors import ParameterError
from bus.params import check_values
from nodes.watch.capture import Source, no_display_message, parse_source
from nodes.watch.node import scene_settings
from nodes.watch.params import Params


class TestParseSource:
    @pytest.mark.parametrize(("text", "source", "label"), [
        ("screen", Source("screen"), "screen"),
        ("monitor:2", Source("monitor", monitor=2), "monitor 2"),
        ("window:XBill", Source("window", title="XBill"), "window 'XBill'"),
        # a title is taken as it is: colons and regex characters included
        ("window:a: b (1).*", Source("window", title="a: b (1).*"), "window 'a: b (1).*'"),
        ("region:10,20,640,360", Source("region", region=(10, 20, 640, 360)),
         "region 640x360 at 10,20"),
    ])
    def test_sources(self, text: str, source: Source, label: str) -> None:
        parsed = parse_source(text)
        assert parsed == source
        assert parsed.label() == label
        check_values(Params, {"source": text}, node="watch")  # the launch check agrees

    def test_empty_is_off(self) -> None:
        assert parse_source("") is None

    @pytest.mark.parametrize("text", ["screens", "monitor:0", "monitor:x", "window:",
                                      "window:  ", "region:1,2,3", "region:1,2,0,4",
                                      "region:-1,2,3,4", "desktop"])
    def test_refused_with_the_forms(self, text: str) -> None:
        with pytest.raises(ParameterError, match=r"screen, monitor:N .*window:TITLE, "
                                                 r"region:X,Y,W,H"):
            parse_source(text)


class TestParameters:
    @pytest.mark.parametrize("values", [
        {"source": "desktop"}, {"fps": 0}, {"width": 8}, {"max_frame_bytes": 100},
        {"ocr_lang": "eng; rm -rf /"}, {"watch_command": ""},
    ])
    def test_launch_check_refuses(self, values: dict[str, object]) -> None:
        with pytest.raises(ParameterError):
            check_values(Params, values, node="watch")

    def test_scene_settings_name_the_field(self) -> None:
        assert scene_settings({"enter": 0.3}).enter == 0.3
        with pytest.raises(ParameterError, match=r"scenes: .*enter"):
            scene_settings({"enter": 2.0})
        with pytest.raises(ParameterError, match=r"scenes: .*nonsense"):
            scene_settings({"nonsense": 1})


class TestNoDisplayMessage:
    def test_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DISPLAY", raising=False)
        message = no_display_message("cannot connect")
        assert message.startswith("no display: DISPLAY is not set (cannot connect)")
        assert "DISPLAY=:0" in message and "Xvfb :99" in message and "DISPLAY=:99" in message

    def test_refusing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DISPLAY", ":77")
        assert no_display_message("refused").startswith("no display: DISPLAY=:77 refuses")
