"""``vtlaunch FILE [name:=value ...]``: bring up a show and keep it up.

    vtlaunch stream.launch.toml                   the whole show on this machine
    vtlaunch stream.launch.toml llm:=vllm         with an argument changed
    vtlaunch stream.launch.toml --host gpu        only the gpu host's share (several hosts)
    vtlaunch stream.launch.toml --print-supervisord   the supervisord config, nothing started
    vtlaunch stream.launch.toml --check           validate, nothing started
    vtlaunch keys DIR                             CURVE keys for a TCP bus

Exit status: 0 when the show ended cleanly (Ctrl-C or SIGTERM, every program stopped in
time, none given up), 1 when it did not, 2 when the file or command line is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from bus.address import LAUNCH_FILE_NOTE, BusAddress, resolve
from bus.errors import BusConfigError, VtError
from bus.protocol import Graph
from bus.text import escape_control
from launch.console import ConsoleBridge
from launch.control import ControlError, Registry, Show, ShowNotRunning
from launch.environment import base_environment, passed
from launch.hangs import HangWatch, Hung
from launch.keys import make_keys
from launch.loader import (
    Launch,
    LaunchFileError,
    declared_args,
    find_launch_file,
    load,
    missing_commands,
    parse_cli_args,
)
from launch.logs import LogTail, Prefixer
from launch.supervisor import RunFiles, render, run_folder, share_name

__all__ = ["main"]

EXIT_CLEAN, EXIT_UNCLEAN, EXIT_REFUSED = 0, 1, 2
_PR_SET_PDEATHSIG = 1
_TICK_S = 0.05
_GRAPH_EVERY_S = 0.1
_HANG_CHECK_EVERY_S = 0.5
_POKE_WHILE_STOPPING_S = 0.1
_UNCLEAN = (
    (re.compile(r"gave up: (\S+) entered FATAL"), "{} crashed in a loop and was given up"),
    (re.compile(r"killing '(\S+)' \(\d+\) with SIGKILL"), "{} did not stop in time (SIGKILL)"),
    (re.compile(r"spawnerr: .*'(\S+)'"), "{} could not be started"),
)
_EXITED = re.compile(r"exited: (\S+) \((.*); not expected\)")
_NOISE = ("Supervisor is running as root", "running without any HTTP authentication")
"""supervisord's warnings that do not apply here: the socket is mode 0700 in a user-only
folder (they stay in its log file)."""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        raise SystemExit(_keys(argv[1:]))
    raise SystemExit(_launch(argv))


def _keys(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vtlaunch keys", description=_first_line(make_keys))
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args(argv).folder
    try:
        for path in make_keys(folder):
            print(path)
    except BusConfigError as exc:
        print(f"vtlaunch keys: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_CLEAN


def _launch(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vtlaunch", description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("\n\n", 1)[1], add_help=False,
    )
    # `vtlaunch FILE --help` also lists FILE's arguments: the file is read before help is
    # printed, so argparse's own --help (which exits at once) is replaced
    parser.add_argument("-h", "--help", action="store_true",
                        help="show this help (with FILE: its arguments too) and exit")
    parser.add_argument("file", nargs="?", help="a launch file, here or in launch/")
    parser.add_argument("args", nargs="*", metavar="NAME:=VALUE", help="launch arguments")
    parser.add_argument("--host", help="start only this host's share")
    parser.add_argument("--bus", help="the bus URL (default: the file's [bus], else VT_BUS)")
    parser.add_argument("--keys", help="CURVE keys folder (default: [bus] keys, else VT_BUS_KEYS)")
    parser.add_argument("--print-supervisord", action="store_true",
                        help="print the supervisord config and exit")
    parser.add_argument("--check", action="store_true", help="validate and exit")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--console", choices=("auto", "on", "off"), default="auto",
                        help="lines typed here become chat (auto: when stdin is a terminal)")
    # `vtlaunch FILE --console off llm:=vllm`: arguments may come after options
    parser.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                        help="fold start-up lines into one progress line (auto: at a terminal)")
    options = parser.parse_intermixed_args(argv)
    if options.help:
        return _help(parser, options.file)
    if options.file is None:
        parser.error("the following arguments are required: file")
    # nodes run as `python -m` from here, which puts this folder on their path: check the
    # modules the same way
    sys.path.insert(0, os.getcwd())
    try:
        launch = load(find_launch_file(options.file), parse_cli_args(options.args))
        programs = launch.share(options.host)
        if options.print_supervisord:
            sys.stdout.write(render(launch, options.host))
            return EXIT_CLEAN
        problems = missing_commands(programs)
        if problems:
            raise LaunchFileError(launch.file, "; ".join(problems))
        keys = options.keys or (str(launch.bus.keys) if launch.bus.keys else None)
        address = resolve(options.bus or launch.bus.url, keys=keys)
        if address.keys is not None:  # missing key files are refused now, not mid-show
            address.keys.client_pair()
            if launch.runs_bus(options.host):
                address.keys.server_secret()
        if options.check:
            print(f"{launch.file}: ok ({len(programs)} programs, bus {address.url})")
            return EXIT_CLEAN
        colour = None if options.color == "auto" else options.color == "always"
        console = (sys.stdin.isatty() if options.console == "auto" else options.console == "on")
        fold = (sys.stdout.isatty() if options.progress == "auto" else options.progress == "on")
        return Runner(launch, options.host, address, colour=colour, console=console,
                      fold=fold).run()
    except VtError as exc:
        print(f"vtlaunch: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _help(parser: argparse.ArgumentParser, file: str | None) -> int:
    """The command's help, then (with a file) the file's arguments, defaults and documentation."""
    sys.stdout.write(parser.format_help())
    if file is None:
        return EXIT_CLEAN
    try:
        path = find_launch_file(file)
        declared = declared_args(path)
    except VtError as exc:
        print(f"vtlaunch: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"\narguments of {path.name} (NAME:=VALUE; no default: required):")
    width = max(40, shutil.get_terminal_size().columns - 1)
    for name, arg in declared.items():
        default = "(required)" if arg.default is None else _shown(arg.default)
        choices = f"  ({', '.join(_shown(c) for c in arg.choices)})" if arg.choices else ""
        print(f"  {name}:={default}{choices}")
        if arg.description:
            print(textwrap.fill(arg.description, width, initial_indent=" " * 6,
                                subsequent_indent=" " * 6))
    return EXIT_CLEAN


def _shown(value: object) -> str:
    """An argument's value as it is typed on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text and not any(c.isspace() for c in text) else repr(text)


class Runner:
    """Runs one share of a show under supervisord in the foreground."""

    def __init__(self, launch: Launch, host: str | None, address: BusAddress, *,
                 colour: bool | None = None, console: bool = False, fold: bool = False):
        self.launch = launch
        self.console = console
        self.host = host
        self.address = address
        self.programs = launch.share(host)
        self.files = RunFiles(run_folder(address), share_name(host))
        shown = (["vtbus"] if launch.runs_bus(host) else []) + [p.name for p in self.programs]
        self.prefixer = Prefixer([*shown, "supervisord", "vtlaunch"], colour=colour, fold=fold)
        self.said: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        """Sentences heard (persona, text), from the console bridge's thread to the terminal."""
        self.tail = LogTail(
            {"supervisord": self.files.log,
             **{name: self.files.program_log(name) for name in shown}},
            self.prefixer, hide=_NOISE,
        )
        self.unclean: list[str] = []
        self._stop_requests = 0
        self._signalled = 0
        self._started = 0.0
        self._poked = False
        self._next_poke = 0.0
        self._next_graph = 0.0
        self._waiting_for = {p.name for p in self.programs if p.kind == "node"}
        self._loading: dict[str, str] = {}
        """Nodes on the bus still preparing, and what (NodeInfo.loading)."""
        self.hangs = HangWatch({p.name: p.hang_timeout_s or 0.0
                                for p in self.programs if p.kind == "node"})

    def run(self) -> int:
        self._prepare_folder()
        self.files.config.write_text(render(self.launch, self.host))
        # `vtbag record` on this bus stores the launch file with the bag (bus/bag/recorder.py)
        (self.files.folder / LAUNCH_FILE_NOTE).write_text(str(self.launch.file))
        self._started = time.monotonic()
        supervisord = self._start_supervisord()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self._say(f"{self.launch.name}: {len(self.programs)} programs on {self.address.url} "
                  f"(run folder {self.files.folder}); Ctrl-C stops the show")
        if self._waiting_for:
            self._show_progress()
        else:  # no node to wait for: nothing to fold
            self.prefixer.stop_folding()
        # the share that runs the bus shows what the personas say (one terminal for the show)
        if self.console or self.launch.runs_bus(self.host):
            keys = self.address.keys
            ConsoleBridge(self.address.url, chat=self.console,
                          said=(lambda persona, text: self.said.put((persona, text)))
                          if self.launch.runs_bus(self.host) else None,
                          keys=str(keys.folder) if keys is not None else None).start()
        registry = Registry(self.address)
        try:
            while supervisord.poll() is None:
                self._tick(supervisord, registry)
                time.sleep(_TICK_S)
        finally:
            registry.close()
        self._watch(self.tail.pump(final=True))
        self.tail.close()
        if supervisord.returncode != 0:
            self.unclean.append(f"supervisord exited with status {supervisord.returncode}")
        if self.unclean:
            self._say("show ended, not cleanly: " + "; ".join(self.unclean))
            return EXIT_UNCLEAN
        self._say("show ended cleanly")
        return EXIT_CLEAN

    def _tick(self, supervisord: subprocess.Popen[bytes], registry: Registry) -> None:
        """One turn of the foreground loop: signals, logs, the registry (up-check, hangs)."""
        if not self._poked and self.files.socket.exists():
            self._poked = self._poke()
        if self._stop_requests > self._signalled:
            self._signalled = self._stop_requests
            if self._signalled == 1:
                self.prefixer.stop_folding()
                self._say("stopping the show")
                supervisord.terminate()
            else:
                self._say("stopping now (SIGKILL): programs get SIGTERM from the kernel")
                supervisord.kill()
        if self._signalled and time.monotonic() >= self._next_poke:
            # a program that ends just after its output closes is noticed only at
            # supervisord's next wake-up: keep it awake while it stops the show
            self._poke()
            self._next_poke = time.monotonic() + _POKE_WHILE_STOPPING_S
        self._watch(self.tail.pump())
        while not self.said.empty():
            persona, text = self.said.get()
            self.prefixer.line(persona, text)
            self.prefixer.flush()
        if not self._signalled:  # a show that stops loses its nodes: not a hang
            self._follow_registry(registry)

    def _follow_registry(self, registry: Registry) -> None:
        """Ask vtbus for its graph (often while nodes start, then every half second): say
        when every node is up, restart the nodes that hang."""
        now = time.monotonic()
        graph = registry.poll()
        if graph is not None:
            if self._waiting_for:
                self._check_up(graph)
            for hung in self.hangs.observe(graph, now):
                self._kill_hung(hung)
        if now >= self._next_graph:
            registry.request()
            self._next_graph = now + (_GRAPH_EVERY_S if self._waiting_for
                                      else _HANG_CHECK_EVERY_S)

    def _kill_hung(self, hung: Hung) -> None:
        """SIGKILL to a hung node's process group (a stopped process never handles SIGTERM,
        and supervisord's stop would wait stop_timeout_s for it first); supervisord sees it
        exit and starts it again (``respawn``)."""
        self.hangs.forget(hung.name)
        try:
            status = Show(self.files.socket).status(hung.name)
        except ControlError:
            return
        if status.state != "RUNNING" or status.pid != hung.pid:
            return  # it ended or was restarted meanwhile: the new one is judged once it joins
        respawn = next(p.respawn for p in self.programs if p.name == hung.name)
        self._say(f"{hung.name} hung: no heartbeat for {hung.silent_s:.1f} s (pid {hung.pid}, "
                  f"hang_timeout_s {hung.timeout_s:g}): killed (SIGKILL)"
                  + ("; supervisord starts it again" if respawn else "; respawn is off"))
        with contextlib.suppress(ProcessLookupError):  # it ended by itself just now
            os.killpg(hung.pid, signal.SIGKILL)

    def _prepare_folder(self) -> None:
        folder = self.files.folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.files.logs.mkdir(exist_ok=True)
        if self.files.socket.exists():
            try:
                Show(self.files.socket).state()
            except ShowNotRunning:
                pass  # left behind by a killed show: supervisord replaces it
            else:
                raise LaunchFileError(
                    self.launch.file,
                    f"a show already runs in {folder} (supervisord socket {self.files.socket}): "
                    "stop it first, or give this one its own bus with --bus",
                )
        # a fresh show starts with fresh logs: the tail prints them from their first line
        for path in self.tail.files.values():
            for old in path.parent.glob(path.name + "*"):
                old.unlink()

    def _start_supervisord(self) -> subprocess.Popen[bytes]:
        """supervisord with the base environment only; each program's ``env_pass`` variables
        go to it on supervisord's standard input (`launch.supervise`), never into a file or
        into every program's environment."""
        env = {
            **base_environment(os.environ),
            "VT_RUN_DIR": str(self.files.folder),
            "VT_PYTHON": sys.executable,
            "VT_BUS": self.address.url,
        }
        if self.address.keys is not None:
            env["VT_BUS_KEYS"] = str(self.address.keys.folder)
        supervisord = subprocess.Popen(
            [sys.executable, "-m", "launch.supervise", "-c", str(self.files.config)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            # its own session: a Ctrl-C at the terminal reaches vtlaunch only, which stops
            # the show in order
            start_new_session=True,
            preexec_fn=_die_with(os.getpid()),
        )
        given = {p.name: passed(p.env_pass, os.environ) for p in self.programs if p.env_pass}
        assert supervisord.stdin is not None
        try:
            with supervisord.stdin:
                supervisord.stdin.write(json.dumps(given).encode())
        except BrokenPipeError:
            pass  # it died at once: its exit status tells the show's end
        return supervisord

    def _poke(self) -> bool:
        """Wake supervisord's main loop (a request on its socket does): it starts programs
        only when it wakes, which is otherwise at its one-second poll timeout."""
        try:
            Show(self.files.socket).state()
        except ControlError:  # not listening yet, or gone
            return False
        return True

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop_requests += 1

    def _check_up(self, graph: Graph) -> None:
        before = (len(self._waiting_for), dict(self._loading))
        listed = {status.info.name: status.info.loading for status in graph.nodes}
        # a node on the bus that still loads (voices, a model) is not up: the show could not
        # answer yet, and the director greets only once it can
        self._loading = {name: listed[name] for name in sorted(self._waiting_for & listed.keys())
                         if listed[name]}
        self._waiting_for -= {name for name, loading in listed.items() if not loading}
        if not self._waiting_for:
            self.prefixer.stop_folding()
            self._say(f"all {len(self.programs)} programs up, every node on the bus after "
                      f"{time.monotonic() - self._started:.2f} s")
            if self.console:  # last: start-up lines no longer push it out of sight
                self._say("type a line to chat as a viewer ('name: text' to choose the name)")
        elif (len(self._waiting_for), self._loading) != before:
            self._show_progress()

    def _show_progress(self) -> None:
        nodes = sum(p.kind == "node" for p in self.programs)
        loading = "".join(f" | {name} loading {escape_control(what)}"
                          for name, what in self._loading.items())
        self.prefixer.set_progress(f"starting: {nodes - len(self._waiting_for)} of {nodes} "
                                   f"nodes ready{loading}")

    def _watch(self, lines: list[tuple[str, str]]) -> None:
        """Notice, in supervisord's log, what makes the show's end unclean."""
        respawning = {p.name for p in self.programs if p.respawn} | {"vtbus"}
        for name, text in lines:
            if name != "supervisord":
                continue
            for pattern, reason in _UNCLEAN:
                found = pattern.search(text)
                if found:
                    self.unclean.append(reason.format(found.group(1)))
            exited = _EXITED.search(text)
            if exited:
                # supervisord respawns on its next loop turn, up to a second away: wake it now
                self._poke()
                if exited.group(1) not in respawning:
                    self.unclean.append(f"{exited.group(1)} ended ({exited.group(2)})")

    def _say(self, text: str) -> None:
        self.prefixer.line("vtlaunch", text)
        self.prefixer.flush()


def _die_with(parent: int) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when ``parent`` dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def prepare() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # it died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return prepare


def _first_line(obj: object) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0]


if __name__ == "__main__":
    main()
