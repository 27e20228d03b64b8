"""The CLI tools' output: errors stay one line whatever the terminal's width."""

from __future__ import annotations

import pytest

from bus.cli.output import Output


def test_a_long_error_is_never_wrapped(capsys: pytest.CaptureFixture[str]) -> None:
    # piped stderr makes rich assume 80 columns; a wrapped path broke `grep` on the message
    # (a pytest-xdist worker's longer tmp path split "cut.mcap" in two)
    path = "/tmp/" + "a-long-folder-name/" * 8 + "cut.mcap"
    Output(json_mode=True).error(f"{path}: truncated at byte 60183")
    err = capsys.readouterr().err
    assert err == f"error: {path}: truncated at byte 60183\n"
