"""bus.text: outside text printed or logged as one line of visible characters."""

from __future__ import annotations

import json

import pytest
from fakes.hostile import HOSTILE

from bus.text import escape_control, json_safe


class TestEscapeControl:
    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("plain words, ünïcödé and 🎉", "plain words, ünïcödé and 🎉"),  # untouched
            ("a\x1b[2Jb", "a\\x1b[2Jb"),          # ESC: clear screen
            ("a\r\nb", "a\\r\\nb"),                # a forged line
            ("a\tb\x00\x07\x08", "a\\tb\\x00\\x07\\x08"),  # tab, NUL, bell, backspace
            ("\x7f", "\\x7f"),                     # DEL
            ("\x9b2J", "\\x9b2J"),                 # C1 CSI: an escape sequence in one char
            ("abc\u202edcba", "abc\\u202edcba"),   # right-to-left override
            ("a\u2028b", "a\\u2028b"),             # Unicode line separator
            ("C:\\path", "C:\\path"),              # a backslash stays
        ],
    )
    def test_controls_become_visible(self, text: str, shown: str) -> None:
        assert escape_control(text) == shown

    def test_hostile_name_is_one_line_without_control_characters(self) -> None:
        shown = escape_control(HOSTILE)
        assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
        assert shown.isprintable()


class TestJsonSafe:
    def test_same_value_no_raw_controls(self) -> None:
        value = {"user": HOSTILE + "\x9b\x7f\u202e"}
        encoded = json_safe(json.dumps(value, ensure_ascii=False))
        assert json.loads(encoded) == value
        assert encoded.isprintable()
