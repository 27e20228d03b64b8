"""The Python end of the mineflayer sidecar: one Node process, JSON lines over its stdio.

`Sidecar` starts ``node nodes/game/minecraft/sidecar/sidecar.js``, writes the config as the
first stdin line (never argv: ``ps`` shows argv), sends requests with ids and deadlines and
matches the replies, and hands every event line (``ready``, ``spawned``, ``state``, ``chat``,
``disconnected``, ``error``) to ``on_event``. When the process exits it logs the exit code
and its last stderr lines, fails every pending call at once with code ``offline``, tells
``on_event`` (``{"event": "exited", ...}``) and starts it again after a backoff. The sidecar
exits by itself when its stdin closes, so a killed game node leaves no orphan.

Errors::

    GameError
    └── SidecarError   code: the sidecar's (no_path, skill_error, ...) or ours:
                       offline (not running / died), timeout (no reply in time),
                       busy (too many calls waiting), setup (node or node_modules missing)

The protocol is in /work/notes/MC17.md and ``sidecar/sidecar.js``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bus.text import escape_control
from nodes.game.games import GameError

__all__ = ["SCRIPT", "Sidecar", "SidecarError"]

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("sidecar") / "sidecar.js"
MAX_LINE = 2**20
"""A stdout or stderr line longer than this is dropped (and counted): a runaway skill's
value must not grow our memory."""
STDERR_KEPT = 20
"""Last stderr lines kept for the exit report."""
LOGGED_CHARS = 500
"""A stderr line is logged cut to this."""
MAX_PENDING = 64
"""Calls waiting for a reply at once; one more is refused with ``busy``."""
REPLY_GRACE_S = 2.0
"""How much longer than its ``timeout_ms`` we wait for a call's reply: the sidecar's own
timeout reply (with its reason) normally comes first."""
STABLE_S = 30.0
"""A sidecar that ran this long before exiting is restarted after the shortest backoff."""
ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "NODE_OPTIONS")
"""The only variables the sidecar gets: bus keys and tokens in ours are none of its business."""

EventCallback = Callable[[dict[str, Any]], None]


class SidecarError(GameError):
    """A sidecar call failed; ``code`` says how (see the module docstring)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _clip(text: str, limit: int = LOGGED_CHARS) -> str:
    return escape_control(text if len(text) <= limit else text[:limit] + "...")


class Sidecar:
    """One supervised sidecar process (see the module docstring).

    Parameters
    ----------
    config:
        The first stdin line (host, port, version, auth, bots...; see the protocol).
    on_event:
        Called with every event line, and with ``{"event": "exited", "code", "stderr",
        "restart_in_s"}`` when the process ended; called on the event loop, must not block.
    node:
        The ``node`` binary (a name on PATH or a path).
    script:
        The sidecar's entry point; its folder must hold ``node_modules``.
    backoff_s:
        (first, longest) wait before a restart; it doubles after each quick exit.
    """

    def __init__(self, config: dict[str, Any], on_event: EventCallback, *,
                 node: str = "node", script: Path = SCRIPT,
                 backoff_s: tuple[float, float] = (0.5, 10.0)):
        self.config = config
        self.on_event = on_event
        self.node = node
        self.script = script
        self.backoff_s = backoff_s
        self.restarts = 0
        """Times the process was started again after it exited."""
        self.bad_lines = 0
        """stdout lines that were not protocol (not JSON, too long, unknown id)."""
        self.stderr: deque[str] = deque(maxlen=STDERR_KEPT)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._started = asyncio.Event()

    @property
    def pid(self) -> int | None:
        """The running process's id (None while it is down)."""
        return self._process.pid if self._process and self._process.returncode is None else None

    def check_setup(self) -> str:
        """The node binary's path, or a `SidecarError` (code ``setup``) saying what to run."""
        found = shutil.which(self.node)
        if found is None:
            raise SidecarError("setup", f"the Minecraft sidecar needs Node.js: {self.node!r} "
                               "is not on PATH (install Debian's nodejs, or set the "
                               "minecraft game's `node` setting to its path)")
        modules = self.script.parent / "node_modules"
        if not self.script.is_file() or not modules.is_dir():
            raise SidecarError("setup", f"the Minecraft sidecar is not installed: {modules} "
                               f"is missing; run `make setup` (npm ci in {self.script.parent})")
        return found

    async def start(self, timeout_s: float = 10.0) -> None:
        """Start the process and its supervisor; returns once it is spawned (not spawned in
        ``timeout_s``: `SidecarError`). Bots join the world afterwards (``spawned`` events)."""
        if self._supervisor is not None:
            return
        node = self.check_setup()
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(node), name="minecraft-sidecar")
        try:
            async with asyncio.timeout(timeout_s):
                await self._started.wait()
        except TimeoutError:
            raise SidecarError("offline", f"the Minecraft sidecar did not start within "
                               f"{timeout_s:g} s") from None
        if self._supervisor.done() and (exc := self._supervisor.exception()) is not None:
            raise exc

    async def call(self, bot: str, op: str, args: dict[str, Any] | None = None,
                   timeout_s: float = 20.0) -> dict[str, Any]:
        """``op`` for ``bot``; its result, or a `SidecarError` with the sidecar's code."""
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            raise SidecarError("offline", f"the Minecraft sidecar is not running ({op} for {bot})")
        if len(self._pending) >= MAX_PENDING:
            raise SidecarError("busy", f"{MAX_PENDING} sidecar calls are waiting already")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"id": request_id, "op": op, "bot": bot, "args": args or {},
                           "timeout_ms": int(timeout_s * 1000)}, separators=(",", ":"))
        try:
            async with asyncio.timeout(timeout_s + REPLY_GRACE_S):
                process.stdin.write(line.encode() + b"\n")
                await process.stdin.drain()
                return await future
        except TimeoutError:
            raise SidecarError("timeout", f"{op} for {bot}: no reply from the sidecar within "
                               f"{timeout_s + REPLY_GRACE_S:g} s") from None
        except (ConnectionError, RuntimeError) as exc:  # its stdin closed under us
            raise SidecarError("offline", f"{op} for {bot}: the sidecar is gone ({exc})") from None
        finally:
            self._pending.pop(request_id, None)

    async def aclose(self, timeout_s: float = 3.0) -> None:
        """Ask it to quit, close its stdin, then terminate and kill it, each with a deadline."""
        self._closing = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(SidecarError):
                await self.call("", "quit", timeout_s=timeout_s / 2)
            if process.stdin is not None:
                process.stdin.close()
            for stop in (None, process.terminate, process.kill):
                if stop is not None:
                    with contextlib.suppress(ProcessLookupError):
                        stop()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        await process.wait()
                    break
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._fail_pending("the sidecar was closed")

    # ------------------------------------------------------------------ supervision

    async def _supervise(self, node: str) -> None:
        delay = self.backoff_s[0]
        env = {name: os.environ[name] for name in ENVIRONMENT if name in os.environ}
        while not self._closing:
            began = time.monotonic()
            try:
                process = await asyncio.create_subprocess_exec(
                    node, str(self.script), stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    limit=MAX_LINE, env=env, cwd=str(self.script.parent))
            except OSError as exc:
                code, detail = None, [f"cannot start {node} {self.script}: {exc}"]
            else:
                self._process = process
                code, detail = await self._run(process)
            self._started.set()
            if self._closing:
                return
            self._process = None
            self._fail_pending("the sidecar exited")
            if time.monotonic() - began >= STABLE_S:
                delay = self.backoff_s[0]
            log.warning("the Minecraft sidecar exited with code %s; restarting in %.1f s; its "
                        "last lines: %s", code, delay, " | ".join(detail) or "(none)")
            self.on_event({"event": "exited", "code": code, "stderr": detail,
                           "restart_in_s": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_s[1])
            self.restarts += 1

    async def _run(self, process: asyncio.subprocess.Process) -> tuple[int | None, list[str]]:
        """Feed it the config, read it until it exits: (exit code, last stderr lines)."""
        assert process.stdin and process.stdout and process.stderr
        self.stderr.clear()
        with contextlib.suppress(ConnectionError):
            process.stdin.write(json.dumps(self.config).encode() + b"\n")
            await process.stdin.drain()
        self._started.set()
        readers = [asyncio.create_task(self._read(process.stdout, self._line)),
                   asyncio.create_task(self._read(process.stderr, self._stderr_line))]
        try:
            code = await process.wait()
            # the pipes reach EOF once it is gone (a grandchild holding them is cut off)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.gather(*readers)
        finally:
            for reader in readers:
                reader.cancel()
        return code, list(self.stderr)

    async def _read(self, stream: asyncio.StreamReader, handle: Callable[[bytes], None]) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # longer than MAX_LINE: the reader dropped it
                self.bad_lines += 1
                log.warning("a sidecar line over %d bytes was dropped", MAX_LINE)
                continue
            if not line:
                return
            handle(line)

    def _stderr_line(self, raw: bytes) -> None:
        text = _clip(raw.decode(errors="replace").rstrip("\n"))
        self.stderr.append(text)
        log.info("%s", text)

    def _line(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.bad_lines += 1
            log.warning("the sidecar wrote a line that is not a JSON object: %s",
                        _clip(raw.decode(errors="replace")))
            return
        if "event" in message:
            try:
                self.on_event(message)
            except Exception:  # one bad event must not stop the reader
                log.exception("handling the sidecar's %s event failed",
                              _clip(str(message.get("event")), 40))
            return
        request_id = message.get("id")
        future = self._pending.get(request_id) if isinstance(request_id, int) else None
        if future is None or future.done():
            self.bad_lines += 1
            log.warning("a sidecar reply to no waiting call: %s", _clip(raw.decode(errors="replace")))
            return
        if message.get("ok"):
            result = message.get("result")
            future.set_result(result if isinstance(result, dict) else {"value": result})
        else:
            future.set_exception(SidecarError(str(message.get("code") or "failed"),
                                              str(message.get("error") or "failed")))

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SidecarError("offline", why))
        self._pending.clear()
