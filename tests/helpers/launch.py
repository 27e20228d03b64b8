"""Launch files written for a test: one node, its parameters on line 4; the talking part of
the show on the stand-ins."""

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


def standin_show(director: str, bus: str = "") -> str:
    """A launch file of the show's talking part on the zero-time stand-ins: chat, the
    director (``director``: the inside of its params table), the scripted LLM, the tone TTS
    and a WAV speaker; ``bus``: lines of a ``[bus]`` table."""
    return (f"[bus]\n{bus}\n\n" if bus else "") + f"""\
[[node]]
name = "chat"
module = "nodes.chat"
params = {{ personas = "mika,rook" }}

[[node]]
name = "director"
module = "nodes.director"
params = {{ {director} }}

[[node]]
name = "llm"
module = "nodes.llm"
params = {{ backend = "scripted" }}

[[node]]
name = "tts"
module = "nodes.tts"
params = {{ default_backend = "tone" }}

[[node]]
name = "speaker"
module = "nodes.speaker"
params = {{ device = "wav" }}
"""
