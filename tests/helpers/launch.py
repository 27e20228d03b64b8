"""Launch files written for a test: one node, its parameters on line 4."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from launch.loader import LaunchFileError, load


def assert_params_refused(tmp_path: Path, node: str, params: str, reason: str) -> None:
    """A launch file of node ``node`` (module ``nodes.<node>``) with ``params`` (the inside of
    an inline TOML table) is refused by `load` at line 4, the params line, for ``reason``
    (a regular expression)."""
    path = tmp_path / f"{node}.launch.toml"
    path.write_text(f'[[node]]\nname = "{node}"\nmodule = "nodes.{node}"\nparams = {{ {params} }}\n')
    with pytest.raises(LaunchFileError, match=rf"{re.escape(path.name)}:4: .*{reason}"):
        load(path)
