"""Run a real ``vtlaunch`` in tests and benchmarks: `LaunchProcess`, and the process tree
helpers that prove a show leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["LaunchProcess", "alive", "descendants"]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _started(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot): with the pid, names one process."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None else None


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


OUTPUT_SHOWN = 30_000
"""Characters of vtlaunch's output printed when a test fails inside `LaunchProcess`."""


class LaunchProcess:
    """``vtlaunch FILE ARGS --bus URL`` as a child process, its output in a file.

    Parameters
    ----------
    file:
        The launch file.
    args:
        ``name:=value`` words and options (``--host gpu``).
    bus_url:
        Default: a fresh ipc folder under /tmp (removed by `stop`).
    env:
        Added to the environment.
    """

    def __init__(self, file: Path | str, args: Sequence[str] = (), *, bus_url: str | None = None,
                 env: Mapping[str, str] | None = None):
        self.folder = None if bus_url else Path(tempfile.mkdtemp(prefix="vt-launch-", dir="/tmp"))
        self.bus_url = bus_url or f"ipc://{self.folder}/bus"
        self.cmd = [sys.executable, "-m", "launch.cli", str(file), *args,
                    "--bus", self.bus_url, "--color", "never"]
        self.env = {**os.environ, **(env or {})}
        self._output = tempfile.NamedTemporaryFile(prefix="vtlaunch-", suffix=".log")  # noqa: SIM115 (closed by stop)
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: dict[int, int | None] = {}
        """Every process of the show seen by `tree` so far, with its start time."""

    def start(self) -> LaunchProcess:
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._output,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def output(self) -> str:
        return Path(self._output.name).read_text(errors="replace")

    def tree(self) -> set[int]:
        """vtlaunch and every process below it now (remembered in `seen`)."""
        now = {self.pid, *descendants(self.pid)}
        for pid in now - self.seen.keys():
            self.seen[pid] = _started(pid)
        return now

    def wait_output(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.proc is not None
            if self.proc.poll() is not None and text not in self.output:
                raise RuntimeError(f"vtlaunch exited ({self.proc.returncode}):\n{self.output}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} from vtlaunch in {timeout} s:\n{self.output}")
            time.sleep(0.05)

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C: SIGINT to vtlaunch, wait for it; returns its exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Interrupt if still running, make sure nothing is left, remove the bus folder."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # safety net for a failed test: never leave processes behind (the start time makes
        # sure a pid is still the same process)
        for pid, started in self.seen.items():
            if alive(pid) and _started(pid) == started:
                os.kill(pid, signal.SIGKILL)
        self._output.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LaunchProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None and self.proc is not None:
            # a failed test shows what the show said (every node's log lines come through
            # vtlaunch): pytest prints a failed test's captured stderr, and the log file goes
            print(f"--- vtlaunch output (last {OUTPUT_SHOWN} characters) ---\n"
                  f"{self.output[-OUTPUT_SHOWN:]}", file=sys.stderr)
        self.stop()
