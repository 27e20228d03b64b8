"""Read a launch file: TOML, validation, arguments, substitutions, conditions and includes.

`load` turns a ``*.launch.toml`` (and what it includes) into a `Launch`: the bus and a flat
list of `Program` s, every string substituted and every condition decided. Anything wrong is
a `LaunchFileError` naming the file, the line (or field) and the reason, raised before
anything starts.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import msgspec

from bus.errors import ParameterError, VtError
from bus.params import check_values, declaration_of
from launch.environment import PASS_PATTERN
from launch.lines import LineIndex, PathKey, error_path
from launch.spec import ArgSpec, BusSpec, Condition, LaunchFile, NodeSpec, ProcessSpec

__all__ = [
    "Bus",
    "Launch",
    "LaunchFileError",
    "Program",
    "declared_args",
    "find_launch_file",
    "load",
    "missing_commands",
    "module_problem",
    "parse_cli_args",
]

RESERVED_NAMES = frozenset({"vtbus", "supervisord"})
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBST = re.compile(r"\$\(([^()]*)\)")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0", ""})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LaunchFileError(VtError):
    """A launch file (or its command line) cannot be used; says where and why."""

    def __init__(self, file: Path | str, reason: str, line: int | None = None):
        self.file = Path(file)
        self.line = line
        self.reason = reason
        place = _display(self.file) + (f":{line}" if line else "")
        super().__init__(f"{place}: {reason}")


# ------------------------------------------------------------------ the result


@dataclass(frozen=True)
class Bus:
    url: str | None
    """None: ``--bus``, else ``VT_BUS``, else the per-user default."""
    keys: Path | None
    host: str
    ttl_s: float
    hang_timeout_s: float


@dataclass(frozen=True)
class Program:
    """One supervised process of the show, fully resolved."""

    name: str
    kind: Literal["node", "process"]
    module: str
    """Nodes: run as ``python -m module``; empty for processes."""
    command: list[str]
    """Processes: the words of the command; empty for nodes."""
    env: dict[str, str]
    """What this program adds to the base environment (``VT_PARAMS``... for nodes)."""
    env_pass: tuple[str, ...]
    """Variables of vtlaunch's environment it also gets (names, or prefixes ending in ``*``)."""
    respawn: bool
    host: str
    start_secs: int
    start_retries: int
    stop_timeout_s: int
    stop_signal: str
    cwd: str
    hang_timeout_s: float | None
    """Nodes: seconds without a heartbeat, after joining, before it counts as hung (0:
    never; None until the bus's default is applied); always 0 for processes."""
    file: Path
    """The launch file that declares it, and the line of its table (for messages)."""
    line: int | None

    @property
    def where(self) -> str:
        return _display(self.file) + (f":{self.line}" if self.line else "")

    def fail(self, reason: str) -> LaunchFileError:
        """An error about this program, at its table."""
        return LaunchFileError(self.file, reason, self.line)


@dataclass(frozen=True)
class Launch:
    name: str
    file: Path
    bus: Bus
    programs: list[Program]
    args: dict[str, str] = field(default_factory=dict)

    @property
    def hosts(self) -> list[str]:
        """Every host named, the bus's first."""
        found = [self.bus.host]
        found += [p.host for p in self.programs if p.host not in found]
        return found

    def share(self, host: str | None) -> list[Program]:
        """The programs ``host`` runs (every program for None)."""
        if host is not None and host not in self.hosts:
            raise LaunchFileError(
                self.file, f"unknown host {host!r}: the file names {', '.join(self.hosts)}"
            )
        return [p for p in self.programs if host is None or p.host == host]

    def runs_bus(self, host: str | None) -> bool:
        return host is None or host == self.bus.host


# ------------------------------------------------------------------ entry points


def find_launch_file(name: str, *, cwd: Path | None = None) -> Path:
    """``name`` as a path, else in ``./launch/``, else beside this module."""
    cwd = cwd or Path.cwd()
    for folder in (cwd, cwd / "launch", Path(__file__).parent):
        candidate = folder / name
        if candidate.is_file():
            return candidate.resolve()
    raise LaunchFileError(name, "launch file not found (looked in ., launch/ and the package)")


def parse_cli_args(words: list[str]) -> dict[str, str]:
    """``name:=value`` words from the command line."""
    given: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition(":=")
        if not sep or not _NAME.fullmatch(name):
            raise LaunchFileError("<command line>", f"argument {word!r} must look like name:=value")
        given[name] = value
    return given


def load(path: Path, args: Mapping[str, str] | None = None) -> Launch:
    """Read ``path`` with command-line ``args`` and everything it includes.

    Raises
    ------
    LaunchFileError
        Bad TOML, a field of the wrong type or unknown, a missing or undeclared argument, an
        unknown substitution, a bad condition, an include cycle, a duplicate or invalid name,
        a node module that does not exist.
    """
    path = path.resolve()
    state = _State()
    spec, scope = _load_file(path, dict(args or {}), state, given_at=("<command line>", None),
                             stack=())
    bus = _resolve_bus(spec.bus or BusSpec(), scope)
    programs = [
        replace(p, host=p.host or bus.host,
                hang_timeout_s=bus.hang_timeout_s if p.hang_timeout_s is None else p.hang_timeout_s)
        for p in state.programs
    ]
    name = spec.launch.name or path.name.removesuffix(".toml").removesuffix(".launch")
    return Launch(name=name, file=path, bus=bus, programs=programs, args=dict(scope.args))


def missing_commands(programs: list[Program]) -> list[str]:
    """Messages for processes whose executable is not on PATH (checked for this host only)."""
    return [
        str(p.fail(f"[[process]] {p.name!r}: command {p.command[0]!r} not found on PATH"))
        for p in programs
        if p.kind == "process" and shutil.which(p.command[0]) is None
    ]


# ------------------------------------------------------------------ loading one file


@dataclass
class _State:
    programs: list[Program] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class _Scope:
    """What substitutions see inside one file."""

    file: Path
    lines: LineIndex
    args: dict[str, str]

    def fail(self, reason: str, at: PathKey = ()) -> LaunchFileError:
        return LaunchFileError(self.file, reason, self.lines.line_of(at))


def _load_file(
    path: Path,
    given: dict[str, str],
    state: _State,
    *,
    given_at: tuple[str, int | None],
    stack: tuple[Path, ...],
) -> tuple[LaunchFile, _Scope]:
    if path in stack:
        chain = " -> ".join(_display(p) for p in (*stack, path))
        raise LaunchFileError(stack[-1], f"include cycle: {chain}")
    spec, lines = _read(path)
    scope = _Scope(path, lines, _bind_args(spec, given, path, lines, given_at))
    for index, include in enumerate(spec.include):
        at: PathKey = ("include", index)
        if not _enabled(include.if_, include.unless, scope, at):
            continue
        target = (path.parent / _subst(include.file, scope, (*at, "file"))).resolve()
        if not target.is_file():
            raise scope.fail(f"included file {_display(target)} not found", (*at, "file"))
        _load_file(
            target,
            {k: _text(_subst_value(v, scope, (*at, "args", k))) for k, v in include.args.items()},
            state,
            given_at=(str(path), lines.line_of(at)),
            stack=(*stack, path),
        )
    for index, process in enumerate(spec.process):
        _add(state, _process(process, scope, ("process", index)))
    for index, node in enumerate(spec.node):
        _add(state, _node(node, scope, ("node", index)))
    return spec, scope


def _read(path: Path) -> tuple[LaunchFile, LineIndex]:
    """One file as written (TOML checked against `LaunchFile`), with its line index."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise LaunchFileError(path, f"cannot read the launch file: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        raise LaunchFileError(
            path, f"invalid TOML: {exc}", int(found.group(1)) if found else None
        ) from None
    lines = LineIndex(text)
    try:
        spec = msgspec.convert(raw, LaunchFile)
    except msgspec.ValidationError as exc:
        raise LaunchFileError(path, str(exc), lines.line_of(error_path(str(exc)))) from None
    return spec, lines


def declared_args(path: Path) -> dict[str, ArgSpec]:
    """The arguments ``path`` declares (each in its long form), in the file's order; nothing
    is substituted or included.

    Raises
    ------
    LaunchFileError
        The file cannot be read, is not TOML or not a launch file.
    """
    spec, _ = _read(path.resolve())
    return {name: value if isinstance(value, ArgSpec) else ArgSpec(default=value)
            for name, value in spec.args.items()}


def _bind_args(
    spec: LaunchFile,
    given: dict[str, str],
    path: Path,
    lines: LineIndex,
    given_at: tuple[str, int | None],
) -> dict[str, str]:
    declared = spec.args
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise LaunchFileError(
                given_at[0],
                f"unknown argument {name!r} for {_display(path)} (it declares: {known})",
                given_at[1],
            )
    bound: dict[str, str] = {}
    for name, value in declared.items():
        arg = value if isinstance(value, ArgSpec) else ArgSpec(default=value)
        if name in given:
            chosen = given[name]
        elif arg.default is not None:
            chosen = _text(arg.default)
        else:
            raise LaunchFileError(
                path, f"argument {name!r} has no default: give it as {name}:=VALUE",
                lines.line_of(("args", name)),
            )
        choices = [_text(c) for c in arg.choices]
        if choices and chosen not in choices:
            raise LaunchFileError(
                path, f"argument {name!r} is {chosen!r}, not one of {', '.join(choices)}",
                lines.line_of(("args", name)),
            )
        bound[name] = chosen
    return bound


def _common(spec: NodeSpec | ProcessSpec, scope: _Scope, at: PathKey) -> dict[str, Any]:
    name = _subst(spec.name, scope, (*at, "name"))
    if not _NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise scope.fail(
            f"name {name!r} must be a letter then letters, digits, _ or - (and not vtbus or "
            "supervisord)", (*at, "name"),
        )
    for key in spec.env:
        if not _ENV_NAME.fullmatch(key):
            raise scope.fail(f"env: {key!r} is not a variable's name (letters, digits, _)",
                             (*at, "env", key))
    env = {k: _subst(v, scope, (*at, "env", k)) for k, v in spec.env.items()}
    for pattern in spec.env_pass:
        if not PASS_PATTERN.fullmatch(pattern):
            raise scope.fail(
                f"env_pass entry {pattern!r} must be a variable's name or a prefix ending in * "
                "(HF_*)", (*at, "env_pass"),
            )
    if not spec.gpu:
        env.setdefault("CUDA_VISIBLE_DEVICES", "")
    if spec.start_secs < 0 or spec.start_retries < 0 or spec.stop_timeout_s <= 0:
        raise scope.fail("start_secs and start_retries must be >= 0, stop_timeout_s > 0", at)
    return {
        "name": name,
        "env": env,
        "env_pass": tuple(spec.env_pass),
        "respawn": spec.respawn,
        "host": _subst(spec.host, scope, (*at, "host")),
        "start_secs": spec.start_secs,
        "start_retries": spec.start_retries,
        "stop_timeout_s": spec.stop_timeout_s,
        "file": scope.file,
        "line": scope.lines.line_of(at),
    }


def _node(spec: NodeSpec, scope: _Scope, at: PathKey) -> Program | None:
    if not _enabled(spec.if_, spec.unless, scope, at):
        return None
    common = _common(spec, scope, at)
    module = _subst(spec.module, scope, (*at, "module"))
    problem = module_problem(module)
    if problem:
        raise scope.fail(f"[[node]] {common['name']!r}: {problem}", (*at, "module"))
    params = {k: _subst_value(v, scope, (*at, "params", k)) for k, v in spec.params.items()}
    _check_params(common["name"], module, params, scope, at)
    remaps = {
        _subst(k, scope, (*at, "remaps", k)): _subst(v, scope, (*at, "remaps", k))
        for k, v in spec.remaps.items()
    }
    env = common.pop("env")
    env["VT_NODE_NAME"] = common["name"]
    env["VT_PARAMS"] = _json(params)
    env["VT_REMAPS"] = _json(remaps)
    if spec.log_level:
        level = _subst(spec.log_level, scope, (*at, "log_level")).upper()
        if level not in _LOG_LEVELS:
            raise scope.fail(
                f"log_level {level!r} is not one of {', '.join(_LOG_LEVELS)}", (*at, "log_level")
            )
        env["VT_LOG_LEVEL"] = level
    env["PYTHONUNBUFFERED"] = "1"
    if spec.hang_timeout_s is not None:
        _check_seconds(spec.hang_timeout_s, "hang_timeout_s", scope, (*at, "hang_timeout_s"))
    return Program(kind="node", module=module, command=[], env=env, stop_signal="TERM", cwd="",
                   hang_timeout_s=spec.hang_timeout_s, **common)


def _check_params(name: str, module: str, params: dict[str, Any], scope: _Scope,
                  at: PathKey) -> None:
    """Each value against the node's declaration (`bus.params.declaration_of`): an unknown
    name, a wrong type or a value out of bounds is refused at its line, before any start."""
    declared = declaration_of(module)
    if declared is None:
        return
    for key, value in params.items():
        try:
            check_values(declared, {key: value}, node=name)
        except ParameterError as exc:
            raise scope.fail(str(exc), (*at, "params", key)) from None


def _process(spec: ProcessSpec, scope: _Scope, at: PathKey) -> Program | None:
    if not _enabled(spec.if_, spec.unless, scope, at):
        return None
    common = _common(spec, scope, at)
    if isinstance(spec.command, str):
        try:
            command = shlex.split(_subst(spec.command, scope, (*at, "command")))
        except ValueError as exc:
            reason = f"command does not split into words: {exc}"
            raise scope.fail(reason, (*at, "command")) from None
    else:
        command = [_subst(w, scope, (*at, "command")) for w in spec.command]
    if not command or not command[0]:
        raise scope.fail(f"[[process]] {common['name']!r}: command is empty", (*at, "command"))
    return Program(kind="process", module="", command=command, stop_signal=spec.stop_signal,
                   cwd=_subst(spec.cwd, scope, (*at, "cwd")), hang_timeout_s=0.0, **common)


def _check_seconds(value: float, what: str, scope: _Scope, at: PathKey, *,
                   positive: bool = False) -> None:
    """A duration must be a finite number of seconds, >= 0 (> 0 when ``positive``)."""
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise scope.fail(f"{what} must be a number of seconds {bound}, got {value}", at)


def module_problem(module: str) -> str | None:
    """Why ``python -m module`` cannot run here, or None when it can."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        return f"module {module!r} not found ({exc})"
    if found is None:
        return f"module {module!r} not found"
    if found.submodule_search_locations is not None:
        try:
            main = importlib.util.find_spec(f"{module}.__main__")
        except ImportError:
            main = None
        if main is None:
            return f"module {module!r} is a package without __main__.py: it cannot run with -m"
    return None


def _add(state: _State, program: Program | None) -> None:
    if program is None:
        return
    if program.name in state.names:
        raise program.fail(
            f"name {program.name!r} is used twice (first at {state.names[program.name]})"
        )
    state.names[program.name] = program.where
    state.programs.append(program)


def _resolve_bus(spec: BusSpec, scope: _Scope) -> Bus:
    at: PathKey = ("bus",)
    _check_seconds(spec.ttl_s, "ttl_s", scope, (*at, "ttl_s"), positive=True)
    _check_seconds(spec.hang_timeout_s, "hang_timeout_s", scope, (*at, "hang_timeout_s"))
    address = _subst(spec.address, scope, (*at, "address"))
    keys_text = _subst(spec.keys, scope, (*at, "keys"))
    keys = (scope.file.parent / keys_text).resolve() if keys_text else None
    if spec.transport == "tcp":
        if not re.fullmatch(r"[^:/\s]+:\d+|\[[0-9a-fA-F:]+\]:\d+", address):
            raise scope.fail(
                f"a tcp bus needs address = \"HOST:PORT\", got {address!r}", (*at, "address")
            )
        url: str | None = f"tcp://{address}"
    else:
        url = f"ipc://{address}" if address else None
    return Bus(url=url, keys=keys, host=_subst(spec.host, scope, (*at, "host")), ttl_s=spec.ttl_s,
               hang_timeout_s=spec.hang_timeout_s)


# ------------------------------------------------------------------ substitutions and conditions


def _subst(text: str, scope: _Scope, at: PathKey) -> str:
    """``text`` with every ``$(...)`` replaced."""

    def one(match: re.Match[str]) -> str:
        words = match.group(1).split()
        match words:
            case ["arg", name]:
                if name not in scope.args:
                    known = ", ".join(scope.args) or "none"
                    raise scope.fail(f"$(arg {name}): no such argument (declared: {known})", at)
                return scope.args[name]
            case ["env", name]:
                if name not in os.environ:
                    raise scope.fail(
                        f"$(env {name}): the environment variable {name} is not set "
                        f"(give a default: $(env {name} DEFAULT))", at,
                    )
                return os.environ[name]
            case ["env", name, *default]:
                return os.environ.get(name, " ".join(default))
            case ["dirname"]:
                return str(scope.file.parent)
        raise scope.fail(
            f"unknown substitution {match.group(0)!r}: use $(arg NAME), $(env NAME [DEFAULT]) "
            "or $(dirname)", at,
        )

    return _SUBST.sub(one, text)


def _subst_value(value: Any, scope: _Scope, at: PathKey) -> Any:
    """Substitute inside any TOML value; a string that is exactly one substitution becomes
    the JSON value its text spells, when it spells one."""
    if isinstance(value, str):
        result = _subst(value, scope, at)
        if _SUBST.fullmatch(value):
            try:
                return json.loads(result)
            except json.JSONDecodeError:
                return result
        return result
    if isinstance(value, list):
        return [_subst_value(v, scope, (*at, i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _subst_value(v, scope, (*at, k)) for k, v in value.items()}
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date too
        raise scope.fail(
            f"{value.isoformat()} is a TOML date or time, which has no JSON form: write it as "
            f"a string (\"{value.isoformat()}\")", at,
        )
    return value


def _enabled(if_: Condition, unless: Condition, scope: _Scope, at: PathKey) -> bool:
    wanted = True if if_ is None else _truth(if_, scope, (*at, "if"))
    refused = False if unless is None else _truth(unless, scope, (*at, "unless"))
    return wanted and not refused


def _truth(condition: str | bool, scope: _Scope, at: PathKey) -> bool:
    if isinstance(condition, bool):
        return condition
    text = _subst(condition, scope, at)
    for operator in ("==", "!="):
        if operator in text:
            left, _, right = text.partition(operator)
            return (left.strip() == right.strip()) == (operator == "==")
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise scope.fail(
        f"condition {condition!r} gives {text!r}: not true/false, yes/no, on/off, 1/0, "
        "nor A == B / A != B", at,
    )


def _json(value: Any) -> str:
    """JSON without apostrophes (escaped as \\u0027), so supervisord's environment line can
    quote it with them."""
    return json.dumps(value, sort_keys=True).replace("'", "\\u0027")


def _text(value: Any) -> str:
    """An argument value as text (TOML booleans spelled the TOML way)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _display(path: Path) -> str:
    """A path relative to the current folder when it lies inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
