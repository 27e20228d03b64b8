"""launch.loader against any text: a `Launch` or a `LaunchFileError` naming the file (and a
line or field), never another exception. Two generators: any text at all, and valid TOML made
of the launch format's own keys mixed with random ones, holding values of every TOML type
(dates, NaN, nested tables, substitutions)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launch.loader import Launch, LaunchFileError, load
from launch.supervisor import render

FUZZ = settings(max_examples=500, derandomize=True, print_blob=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

FIELDS = ["launch", "args", "bus", "include", "node", "process", "name", "description",
          "default", "choices", "transport", "address", "keys", "host", "ttl_s",
          "hang_timeout_s", "file", "if", "unless", "module", "params", "remaps", "env",
          "env_pass", "log_level", "gpu", "respawn", "start_secs", "start_retries",
          "stop_timeout_s", "command", "cwd", "stop_signal"]
WORDS = ["nodes.demo.talker", "nodes.demo", "nodes.nope", "ipc", "tcp", "127.0.0.1:1",
         "TERM", "STOP", "true", "no", "a == a", "$(arg x)", "$(env HOME)", "$(env NOPE)",
         "$(dirname)", "$(find x)", "$(", "*", "HF_*", "echo 'open", "DEBUG", ""]


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, but JSON leaves DEL raw and TOML refuses it
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (tables inline, so any nesting fits on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _toml(document: dict[str, Any]) -> str:
    return "".join(f"{_toml_string(k)} = {_toml_value(v)}\n" for k, v in document.items())


keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
texts = st.one_of(st.sampled_from(WORDS), st.text(max_size=20))
scalars = st.one_of(
    texts, st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(),
    st.datetimes(), st.dates(), st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)


def _rarely(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``odd`` one time in 20: a file has many fields, and one wrong type stops the loading
    at validation, before substitutions, conditions and includes are reached."""
    return st.integers(0, 19).flatmap(lambda pick: odd if pick == 7 else usual)


def _mostly(typed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right type for a field, or any value."""
    return _rarely(typed, values)


def _table(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A table of the format, sometimes missing a required key or holding an unknown one."""
    wanted = st.fixed_dictionaries(
        {k: _mostly(v) for k, v in required.items()},
        optional={k: _mostly(v) for k, v in optional.items()},
    )
    extra = st.dictionaries(keys, values, min_size=1, max_size=2)
    odd = st.one_of(st.tuples(wanted, extra).map(lambda both: {**both[1], **both[0]}),
                    st.dictionaries(keys, values, max_size=6))
    return _rarely(wanted, odd)


seconds = st.integers(-5, 100)
durations = st.one_of(seconds, st.floats())
basic = st.one_of(texts, st.booleans(), st.integers(), st.floats())
names = _rarely(st.sampled_from(["a", "b", "c", "talker"]), texts)
modules = _rarely(st.sampled_from(["nodes.demo.talker", "nodes.demo.listener"]), texts)
condition = st.one_of(st.booleans(), texts)
text_table = st.dictionaries(texts, texts, max_size=4)
program = {
    "env": text_table, "env_pass": st.lists(texts, max_size=3), "respawn": st.booleans(),
    "gpu": st.booleans(), "host": texts, "start_secs": seconds, "start_retries": seconds,
    "stop_timeout_s": seconds, "if": condition, "unless": condition,
}
node = _table({"name": names, "module": modules}, {
    **program, "params": st.dictionaries(texts, values, max_size=4), "remaps": text_table,
    "log_level": texts, "hang_timeout_s": durations,
})
process = _table({"name": names, "command": st.one_of(texts, st.lists(texts, max_size=4))}, {
    **program, "cwd": texts, "stop_signal": _rarely(st.sampled_from(["TERM", "INT"]), texts),
})
arg = st.one_of(basic, _table({}, {"default": basic, "description": texts,
                                   "choices": st.lists(basic, max_size=3)}))
documents = _table({}, {
    "launch": _table({}, {"name": texts, "description": texts}),
    "args": st.dictionaries(texts, arg, max_size=4),
    "bus": _table({}, {"transport": _rarely(st.sampled_from(["ipc", "tcp"]), texts),
                       "address": texts, "keys": texts, "host": texts,
                       "ttl_s": durations, "hang_timeout_s": durations}),
    "include": st.lists(_table({"file": texts}, {"args": text_table, "if": condition,
                                                 "unless": condition}), max_size=2),
    "node": st.lists(node, max_size=3),
    "process": st.lists(process, max_size=2),
})


def _load_or_refuse(path: Path) -> None:
    try:
        launch = load(path)
    except LaunchFileError as exc:
        assert exc.file.name and exc.reason
        return
    assert isinstance(launch, Launch)
    with contextlib.suppress(LaunchFileError):  # what vtlaunch does next: refused or written
        render(launch, None)


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "any.launch.toml"
    path.write_text(text)
    _load_or_refuse(path)


@FUZZ
@given(document=documents)
def test_any_toml_of_launch_keys(tmp_path_factory: Any, document: dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "toml.launch.toml"
    path.write_text(_toml(document))
    _load_or_refuse(path)
