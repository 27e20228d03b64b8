"""A real Minecraft server and the bots' sidecar, for tests (issue 17).

- `MinecraftServer` runs ``nodes/game/minecraft/sidecar/server.js`` (flying-squid, superflat,
  offline mode) on a free loopback port and waits for its ``listening`` line; ``restart()``
  brings it back on the same port. Tests share one through the session fixture
  ``minecraft_server`` (registered in tests/conftest.py); a test that stops or restarts a
  server starts its own.
- `SidecarClient` runs ``sidecar.js`` with a config and speaks its JSON lines: ``call`` sends a
  request and waits for its reply, ``wait_event`` waits for an event. Plain subprocess and a
  reader thread: the production client (``nodes/game/minecraft/sidecar.py``) is what is tested
  elsewhere, this one only drives the JS side.

Every wait has a deadline and fails with what it waited for and the process's last log lines.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from nodes.game.games.minecraft import MinecraftSettings

from .ports import HOST, free_port

__all__ = ["DEFAULT_VERSION", "SIDECAR_DIR", "MinecraftServer", "SidecarClient", "SidecarReplyError",
           "bot_config", "minecraft_server_session", "spawned_bots"]

SIDECAR_DIR = Path(__file__).resolve().parents[2] / "nodes" / "game" / "minecraft" / "sidecar"
DEFAULT_VERSION = MinecraftSettings().version
"""The game's default, which the launch files and server.js's default follow."""
SEED = 1234
LISTEN_TIMEOUT_S = 60.0  # measured 0.3-0.8 s alone; generous for a loaded 2-core machine
STOP_TIMEOUT_S = 10.0
LOG_LINES = 40  # the last stderr lines kept, shown when a wait fails


def node_binary() -> str:
    """The ``node`` on PATH, with its packages installed; a clear failure otherwise."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("no `node` on PATH: run `make node` (Debian nodejs + npm ci)")
    if not (SIDECAR_DIR / "node_modules" / "flying-squid").is_dir():
        raise RuntimeError(f"{SIDECAR_DIR}/node_modules is missing: run `make node`")
    return node


class _Lines:
    """A child process's stdout as JSON objects (a reader thread fills a queue) and its stderr
    kept in a temporary file (a pipe nobody reads would fill up and block the child)."""

    def __init__(self, args: list[str], name: str):
        self.name = name
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop(), after the child)
        self.process = subprocess.Popen(args, cwd=SIDECAR_DIR, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._log, text=True,
                                        encoding="utf-8", bufsize=1)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.raw: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.raw.append(line.rstrip("\n"))
            try:
                message = json.loads(line)
            except ValueError:
                message = {"unparsed": line}
            self.lines.put(message)

    def log_tail(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").splitlines()[-LOG_LINES:]
        return "\n".join(lines)

    def explain(self, what: str, timeout_s: float) -> str:
        return (f"{self.name}: no {what} within {timeout_s:g} s (exit code {self.process.poll()})\n"
                f"--- stdout tail ---\n" + "\n".join(self.raw) + "\n--- stderr tail ---\n" + self.log_tail())

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Close stdin, terminate, then kill, each with a deadline; the exit code."""
        process = self.process
        for stop in (self._close_stdin, process.terminate, process.kill):
            if process.poll() is not None:
                break
            stop()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                continue
        self._reader.join(timeout=timeout_s)
        self._log.close()
        return process.returncode

    def _close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):  # it died already
                self.process.stdin.close()


class MinecraftServer:
    """flying-squid on 127.0.0.1: ``with MinecraftServer() as server: server.port``."""

    def __init__(self, *, port: int | None = None, version: str = DEFAULT_VERSION, seed: int = SEED,
                 world: Path | None = None):
        self.host = HOST
        self.port = port or free_port()
        self.version = version
        self.seed = seed
        self.world = world
        self._lines: _Lines | None = None

    def start(self, timeout_s: float = LISTEN_TIMEOUT_S) -> Self:
        args = [node_binary(), "server.js", "--host", self.host, "--port", str(self.port),
                "--version", self.version, "--seed", str(self.seed), "--world", str(self.world or "")]
        self._lines = lines = _Lines(args, f"server.js :{self.port}")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                message = lines.lines.get(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
            except queue.Empty:
                message = None
            if message and message.get("event") == "listening":
                return self
            if time.monotonic() > deadline or lines.process.poll() is not None:
                output = lines.explain("listening line", timeout_s)
                lines.stop()
                raise RuntimeError(output)

    def stop(self) -> int | None:
        """Stop it (SIGTERM: it kicks its players first); its exit code."""
        if self._lines is None:
            return None
        lines, self._lines = self._lines, None
        lines.process.terminate()
        return lines.stop()

    def restart(self, timeout_s: float = LISTEN_TIMEOUT_S) -> Self:
        """Stop and start again on the same port (the world is new unless ``world`` was given)."""
        self.stop()
        return self.start(timeout_s)

    def log_tail(self) -> str:
        return self._lines.log_tail() if self._lines else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def minecraft_server_session() -> Iterator[MinecraftServer]:
    """The body of the session fixture ``minecraft_server`` (tests/conftest.py): one server for
    every test that only plays on it."""
    with MinecraftServer() as server:
        yield server


class SidecarReplyError(Exception):
    """An op's ``{"ok": false}`` reply: ``code`` and ``message`` as the sidecar sent them."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def bot_config(port: int, bots: dict[str, str], *, version: str = DEFAULT_VERSION, host: str = HOST,
               state_period_ms: int = 1000, reconnect_ms: tuple[int, int] = (300, 2000)) -> dict[str, Any]:
    """A sidecar config: ``bots`` maps persona -> in-game username."""
    return {"host": host, "port": port, "version": version, "auth": "offline",
            "bots": [{"persona": persona, "username": name} for persona, name in bots.items()],
            "state_period_ms": state_period_ms, "skill": {"timeout_ms": 10000, "memory_mb": 32},
            "reconnect_ms": list(reconnect_ms)}


class SidecarClient:
    """``sidecar.js`` in a child process, with its config as the first stdin line."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self._lines: _Lines | None = None
        self._ids = itertools.count(1)
        self.replies: dict[Any, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.unanswered: list[dict[str, Any]] = []  # replies without an id (bad lines)

    @property
    def process(self) -> subprocess.Popen[str]:
        assert self._lines is not None, "start() first"
        return self._lines.process

    def start(self) -> Self:
        self._lines = _Lines([node_binary(), "sidecar.js"], "sidecar.js")
        self.send_line(json.dumps(self.config))
        return self

    def send_line(self, line: str) -> None:
        """Write one raw line (a request, or anything a test wants to feed it)."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def _drain(self, timeout_s: float) -> None:
        """Move the lines read so far (waiting up to ``timeout_s`` for one) into replies/events."""
        assert self._lines is not None
        try:
            message = self._lines.lines.get(timeout=timeout_s)
        except queue.Empty:
            return
        while True:
            if "event" in message:
                self.events.append(message)
            elif message.get("id") is not None:
                self.replies[message["id"]] = message
            else:
                self.unanswered.append(message)
            try:
                message = self._lines.lines.get_nowait()
            except queue.Empty:
                return

    def _until(self, found: Callable[[], Any], what: str, timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            result = found()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                assert self._lines is not None
                raise TimeoutError(self._lines.explain(what, timeout_s))
            self._drain(min(remaining, 0.2))

    def request(self, op: str, bot: str | None = None, args: dict[str, Any] | None = None, *,
                timeout_s: float = 20.0, wait_s: float | None = None) -> dict[str, Any]:
        """Send a request and wait for its reply line (``timeout_s`` is the op's deadline; the
        wait allows 15 s more unless ``wait_s`` says otherwise)."""
        request_id = next(self._ids)
        request: dict[str, Any] = {"id": request_id, "op": op, "args": args or {},
                                   "timeout_ms": int(timeout_s * 1000)}
        if bot is not None:
            request["bot"] = bot
        self.send_line(json.dumps(request))
        return self.reply(request_id, timeout_s=wait_s if wait_s is not None else timeout_s + 15.0)

    def reply(self, request_id: Any, *, timeout_s: float = 20.0) -> dict[str, Any]:
        """The reply to ``request_id`` (sent earlier with `send_line`), waiting for it."""
        return self._until(lambda: self.replies.pop(request_id, None), f"reply to id {request_id}",
                           timeout_s)

    def call(self, op: str, bot: str | None = None, args: dict[str, Any] | None = None, *,
             timeout_s: float = 20.0) -> dict[str, Any]:
        """The op's result; `SidecarReplyError` when it failed."""
        answer = self.request(op, bot, args, timeout_s=timeout_s)
        if not answer["ok"]:
            raise SidecarReplyError(answer["code"], answer["error"])
        result: dict[str, Any] = answer["result"]
        return result

    def wait_unanswered(self, since: int, *, timeout_s: float = 10.0) -> dict[str, Any]:
        """The first reply without an id (to a line it could not read) after ``since`` (an
        index into `unanswered`)."""
        return self._until(lambda: self.unanswered[since] if len(self.unanswered) > since else None,
                           "a reply without an id", timeout_s)

    def mark(self) -> int:
        """A place in the event list: `wait_event` ``since=`` it sees only later events."""
        assert self._lines is not None
        self._drain(0.0)
        return len(self.events)

    def wait_event(self, event: str, *, since: int = 0, timeout_s: float = 30.0,
                   **fields: Any) -> dict[str, Any]:
        """The first event named ``event`` after ``since`` whose fields equal ``fields``
        (a callable value is a predicate on the field)."""
        def matches(message: dict[str, Any]) -> bool:
            if message.get("event") != event:
                return False
            for name, wanted in fields.items():
                value = message.get(name)
                if not (wanted(value) if callable(wanted) else value == wanted):
                    return False
            return True

        def found() -> dict[str, Any] | None:
            return next((m for m in self.events[since:] if matches(m)), None)

        return self._until(found, f"{event} event {fields or ''}", timeout_s)

    def wait_spawned(self, *personas: str, since: int = 0, timeout_s: float = 60.0) -> None:
        """Wait until each persona's bot has spawned (after ``since``)."""
        for persona in personas:
            self.wait_event("spawned", bot=persona, since=since, timeout_s=timeout_s)

    def wait_online(self, *personas: str, timeout_s: float = 60.0) -> None:
        """Wait until each persona's bot answers ``state`` (one that lost the server, e.g.
        kicked after keep-alives went unanswered on a loaded machine, rejoins first)."""
        deadline = time.monotonic() + timeout_s
        for persona in personas:
            while True:
                answer = self.request("state", persona, timeout_s=5.0)
                if answer["ok"]:
                    break
                if answer["code"] != "offline" or time.monotonic() > deadline:
                    raise SidecarReplyError(answer["code"], f"{persona} not back within "
                                            f"{timeout_s:g} s: {answer['error']}")
                time.sleep(0.5)

    def log_tail(self) -> str:
        return self._lines.log_tail() if self._lines else ""

    def stop(self) -> int | None:
        """Close its stdin (it quits its bots and exits by itself), then terminate/kill."""
        if self._lines is None:
            return None
        lines, self._lines = self._lines, None
        return lines.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


@contextmanager
def spawned_bots(server: MinecraftServer, bots: dict[str, str]) -> Iterator[SidecarClient]:
    """A sidecar with ``bots`` (persona -> unique in-game name) on ``server``, all spawned."""
    with SidecarClient(bot_config(server.port, bots, version=server.version)) as client:
        client.wait_spawned(*bots)
        yield client
