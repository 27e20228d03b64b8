"""The launch file format: msgspec Structs for what a ``*.launch.toml`` may contain.

A launch file::

    [launch]
    name = "stream"

    [args]
    rate = 20.0                                          # a default; override: rate:=5
    llm = { default = "smollm2", choices = ["smollm2", "vllm"], description = "LLM backend" }

    [bus]
    transport = "ipc"          # or "tcp" with address = "HOST:PORT" and keys = "DIR"

    [[include]]
    file = "other.launch.toml"
    args = { rate = "$(arg rate)" }

    [[node]]
    name = "talker"
    module = "nodes.demo.talker"
    params = { rate_hz = "$(arg rate)" }
    remaps = { "demo/count" = "demo/count_a" }
    if = "$(arg llm) == smollm2"

    [[process]]
    name = "vllm"
    command = ["vllm", "serve", "meta-llama/Llama-3.1-70B"]
    host = "gpu"
    gpu = true

Strings may hold substitutions: ``$(arg NAME)``, ``$(env NAME)``, ``$(env NAME DEFAULT)`` and
``$(dirname)`` (the folder of the file). A parameter whose whole value is one substitution is
read as JSON when it parses (``"$(arg rate)"`` gives the number 20.0). ``if`` and ``unless``
take a boolean, a string that is one (true/false, yes/no, on/off, 1/0), or ``A == B`` /
``A != B``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "ArgSpec",
    "BusSpec",
    "Condition",
    "IncludeSpec",
    "LaunchFile",
    "LaunchInfo",
    "NodeSpec",
    "ProcessSpec",
    "Scalar",
]

Scalar = str | int | float | bool
Condition = str | bool | None
StopSignal = Literal["TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2"]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Unknown keys are refused: a typo must not be silently ignored."""


class LaunchInfo(_Strict):
    name: str = ""
    """The show's name (default: the file name without ``.launch.toml``)."""
    description: str = ""


class ArgSpec(_Strict):
    """An argument in its long form; the short form ``name = default`` is a bare value."""

    default: Scalar | None = None
    """None: the argument is required on the command line."""
    description: str = ""
    choices: list[Scalar] = []
    """When not empty, the only values accepted."""


class BusSpec(_Strict):
    transport: Literal["ipc", "tcp"] = "ipc"
    address: str = ""
    """ipc: the bus folder (default: the per-user default bus); tcp: ``HOST:PORT``."""
    keys: str = ""
    """CURVE keys folder (``vtlaunch keys DIR``), relative to the launch file; a TCP bus beyond
    loopback needs one."""
    host: str = "main"
    """The host whose share runs vtbus."""
    ttl_s: float = 3.0
    """A node silent for this long leaves the registry."""
    hang_timeout_s: float = 10.0
    """The default of every node's ``hang_timeout_s``."""


class _Program(_Strict):
    name: str
    env: dict[str, str] = {}
    """Variables set for this program (they win over passed ones)."""
    env_pass: list[str] = []
    """Variables of vtlaunch's environment this program also gets: names, or prefixes ending
    in ``*`` (``HF_*``). Nothing else of vtlaunch's environment reaches it but a small base
    set (``PATH``, ``HOME``, locale, XDG folders, display and sound server, ``VT_*``; see
    ``launch/environment.py``): name a secret here only for the program that needs it."""
    respawn: bool = True
    """Restart when it exits (immediately after a crash; with growing delays in a crash loop)."""
    gpu: bool = False
    """False hides every GPU from it (``CUDA_VISIBLE_DEVICES=""``)."""
    host: str = ""
    """Empty: the host that runs the bus."""
    start_secs: int = 3
    """Alive this long, it counts as started: a later death is a crash, restarted at once; an
    earlier one is part of a crash loop, restarted after 1 s, 2 s, 3 s... Give slow starters
    (model loading) more."""
    start_retries: int = 10
    """Quick deaths in a row (each within ``start_secs``) before it is given up (FATAL)."""
    stop_timeout_s: int = 5
    """Seconds it may take to stop before it (and its process group) gets SIGKILL."""
    if_: Condition = msgspec.field(default=None, name="if")
    unless: Condition = None


class NodeSpec(_Program, kw_only=True):
    module: str
    """Run as ``python -m MODULE``."""
    params: dict[str, Any] = {}
    remaps: dict[str, str] = {}
    """Topic and service names, from -> to."""
    log_level: str = ""
    hang_timeout_s: float | None = None
    """A node that joined the bus and then sends no heartbeat for this long hangs (a
    deadlocked loop, SIGSTOP): vtlaunch kills it (SIGKILL) and it is restarted. Not counted
    before it first joins (model loading); 0 never; default: the bus's ``hang_timeout_s``.
    Heartbeats come from the node's event loop: give a node that blocks its loop longer."""


class ProcessSpec(_Program, kw_only=True):
    command: str | list[str]
    """A command line (split like a shell would) or its words."""
    cwd: str = ""
    stop_signal: StopSignal = "TERM"


class IncludeSpec(_Strict):
    file: str
    """Relative to the including file."""
    args: dict[str, Scalar] = {}
    if_: Condition = msgspec.field(default=None, name="if")
    unless: Condition = None


class LaunchFile(_Strict):
    """One ``*.launch.toml`` as written (before substitutions and conditions)."""

    launch: LaunchInfo = msgspec.field(default_factory=LaunchInfo)
    args: dict[str, Scalar | ArgSpec] = {}
    bus: BusSpec | None = None
    """Only the top file's bus counts; an included file's is ignored."""
    include: list[IncludeSpec] = []
    node: list[NodeSpec] = []
    process: list[ProcessSpec] = []
