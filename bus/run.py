"""Run one node as a process: ``python -m nodes.NAME [--bus URL] [--name N] [-p k:=v] [-r a:=b]``.

The launch file passes the same things through the environment (``VT_BUS``, ``VT_NODE_NAME``,
``VT_PARAMS`` and ``VT_REMAPS`` as JSON objects); the command line wins.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import sysconfig
import traceback
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from bus.address import resolve
from bus.errors import VtError
from bus.node import Node, NodeOptions
from bus.params import parse_assignment
from bus.text import escape_control
from bus.transport import ZmqTransport

__all__ = ["EscapingFormatter", "LibraryFilter", "options_from_argv", "run"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LIBRARY_LOG_LEVEL = "WARNING"
"""Third-party libraries log below this only when ``--log-libraries`` or ``VT_LOG_LIBRARIES``
says so: faster-whisper logged 74 INFO lines for 16 utterances, httpx one per request,
Chroma and Mem0 their set-up, which buried the show's own lines."""
_OUR_PACKAGES = ("bus", "nodes", "launch", "messages")
_PROJECT = Path(__file__).resolve().parent.parent
_LIBRARY_ROOTS = tuple(
    Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib", "stdlib")
)
FATAL_WAIT_S = 1.0
"""How long a node that cannot start waits for someone to listen on ``system/log`` before
it says why anyway and exits: well under supervisord's ``startsecs`` (3), so a failed start
is still seen as one, and long enough for a subscription to reach a new connection."""


class EscapingFormatter(logging.Formatter):
    """One log record, one line: control characters in the message (a viewer's name holding
    ESC or CR LF) are spelled out (`bus.text.escape_control`), so outside text can neither
    forge a log line nor drive the terminal. A traceback keeps its lines, each escaped and
    indented: an exception's own text may hold a newline, and only a record's first line
    starts at the left edge."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_control(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        head, newline, details = super().format(record).partition("\n")
        if not newline:
            return head
        return head + "".join(f"\n  {escape_control(line)}" for line in details.split("\n"))


class LibraryFilter(logging.Filter):
    """Drops records below ``level`` logged by third-party code (a file in site-packages or
    the standard library, outside this project's packages); the project's own records and
    every library's warnings pass.

    Parameters
    ----------
    level:
        The least level a library's record needs (``logging.WARNING``).
    """

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or not _from_library(record.pathname)


@lru_cache(maxsize=1024)
def _from_library(pathname: str) -> bool:
    path = Path(pathname).resolve()
    if any(path.is_relative_to(_PROJECT / package) for package in _OUR_PACKAGES):
        return False  # ours, even when the project is installed into site-packages
    return any(path.is_relative_to(root) for root in _LIBRARY_ROOTS)


def options_from_argv(argv: list[str] | None = None, *, prog: str = "node") -> NodeOptions:
    """Node options from the environment, then the command line."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--bus", default=None, help="ipc://FOLDER or tcp://HOST:PORT")
    parser.add_argument("--name", default=os.environ.get("VT_NODE_NAME"))
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE")
    parser.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO")
    parser.add_argument("--params-file", help="a JSON object of parameter values")
    parser.add_argument("--log-level", default=os.environ.get("VT_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--log-libraries", default=os.environ.get("VT_LOG_LIBRARIES") or LIBRARY_LOG_LEVEL,
        help="least level of third-party libraries' lines (default WARNING; "
             "VT_LOG_LIBRARIES=INFO shows faster-whisper's, httpx's...)")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter(LOG_FORMAT))
    library_level = logging.getLevelName(args.log_libraries.upper())
    if not isinstance(library_level, int):
        parser.error(f"--log-libraries / VT_LOG_LIBRARIES {args.log_libraries!r}: not a level "
                     "(DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    handler.addFilter(LibraryFilter(library_level))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    params: dict[str, Any] = json.loads(os.environ.get("VT_PARAMS") or "{}")
    remaps: dict[str, str] = json.loads(os.environ.get("VT_REMAPS") or "{}")
    if args.params_file:
        with open(args.params_file) as f:
            params.update(json.load(f))
    params.update(parse_assignment(a) for a in args.param)
    for text in args.remap:
        source, target = parse_assignment(text, what="remap")
        remaps[source] = str(target)
    return NodeOptions(bus=args.bus, name=args.name, parameters=params, remaps=remaps)


def run(factory: Callable[..., Node], argv: list[str] | None = None) -> None:
    """Build the node, spin it until SIGINT/SIGTERM, leave the bus cleanly.

    A node that cannot start (its options, its constructor, `Node.start`, its ``on_start``:
    a `ParameterError`, a `PluginError`, any exception) or that dies says why in one
    ``fatal`` line, on stderr and on ``system/log``, before the process exits with status 1.
    """
    name = _default_name(factory)
    try:
        options = options_from_argv(argv, prog=getattr(factory, "__module__", "node"))
    except Exception as exc:  # -p a=b, a VT_PARAMS that is not JSON: nothing is known yet
        logging.getLogger(name).critical("did not start: %s", _one_line(exc))
        raise SystemExit(1) from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(factory, options))


async def _main(factory: Callable[..., Node], options: NodeOptions) -> None:
    try:  # the connection comes first: a node that fails while it is built can still say so
        options.transport = ZmqTransport(resolve(options.bus))
    except VtError as exc:
        logging.getLogger(options.name or _default_name(factory)).critical(
            "did not start: %s", _one_line(exc))
        raise SystemExit(1) from None
    node, failure = _build(factory, options)
    if node is None or failure is not None:
        assert failure is not None
        await _failed(node, options, failure, name=options.name or _default_name(factory))
        raise SystemExit(1)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, node.shutdown)
    try:
        try:
            await node.start()
        except Exception as exc:
            node.log.critical("did not start: %s", _one_line(exc))
            _log_traceback(node.log, exc)
            await _publish_logs(node)
            raise SystemExit(1) from None
        try:
            await node.spin()
        except Exception as exc:
            node.log.critical("node died: %s: %s", type(exc).__name__, exc, exc_info=True)
            await _publish_logs(node)
            raise SystemExit(1) from None
    finally:
        await node.close()


def _build(factory: Callable[..., Node], options: NodeOptions) -> tuple[Node | None,
                                                                         Exception | None]:
    """The node, or why it could not be built, with the node as far as it got: a node class
    is made as calling it would (``__new__``, then ``__init__``), so that when its own
    ``__init__`` raises after `Node.__init__` ran, that much of it (on the bus, with its
    name and the warnings it logged) is there to report the failure."""
    cls = factory if isinstance(factory, type) and issubclass(factory, Node) else None
    if cls is None:
        try:
            return factory(options=options), None
        except Exception as exc:
            return None, exc
    node = cls.__new__(cls)
    try:
        node.__init__(options=options)  # type: ignore[misc]  # what calling the class does
    except Exception as exc:
        return (node if _base_ready(node) else None), exc
    return node, None


async def _failed(node: Node | None, options: NodeOptions, exc: Exception, *, name: str) -> None:
    """Report a node that could not be built: through what was built of it, or through a bare
    node of its name on the same connection, made only to say so."""
    transport = options.transport
    assert transport is not None
    if node is None:
        try:
            node = Node(name, options=NodeOptions(bus=options.bus, name=name, hidden=True,
                                                  transport=transport))
        except Exception:  # nothing more can be said on the bus: stderr has the line
            logging.getLogger(name).critical("did not start: %s", _one_line(exc))
            _log_traceback(logging.getLogger(name), exc)
            transport.close()
            return
    node.log.critical("did not start: %s", _one_line(exc))
    _log_traceback(node.log, exc)
    await _publish_logs(node)
    # not `close`: the node never started, and its own __init__ did not finish (its
    # on_shutdown would fail on what it never set up)
    transport.close()


async def _publish_logs(node: Node) -> None:
    """See the node's last words onto ``system/log``: held until the node is on the bus,
    they go out once someone listens there, or after `FATAL_WAIT_S` anyway."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FATAL_WAIT_S
    while not node.has_subscribers("system/log") and loop.time() < deadline:
        await asyncio.sleep(0.02)
    node.publish_held_logs()


def _log_traceback(log: logging.Logger, exc: Exception) -> None:
    """An error of ours says what to do in its message; anything else is a bug or a failure
    nobody checked, and its traceback is kept at debug level (``--log-level debug``), so the
    fatal line stays one line in the terminal and on ``system/log``."""
    if not isinstance(exc, VtError):
        log.debug("the traceback of the failure above:", exc_info=exc)


def _one_line(exc: BaseException) -> str:
    """The error as one line: our own errors by their message (it names the parameter and
    the fix); anything else by its type, its message and where it was raised."""
    if isinstance(exc, VtError):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += (f" (raised at {last.filename}:{last.lineno} in {last.name}; the traceback "
                 "is logged at debug level: --log-level debug)")
    return text


def _default_name(factory: Callable[..., Node]) -> str:
    """The node's name when neither the launch file nor ``--name`` gives one and the node
    never got as far as naming itself: its package (``nodes.tts.node`` -> ``tts``) or its
    module (``nodes.demo.talker`` -> ``talker``)."""
    module = getattr(factory, "__module__", "") or ""
    if module == "__main__":  # python -m nodes.demo.talker
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else ""
    parts = [part for part in module.split(".") if part not in ("nodes", "node", "__main__")]
    return parts[-1] if parts else "node"


def _base_ready(node: Node) -> bool:
    """Whether `Node.__init__` finished (the subclass's own ``__init__`` raised after it)."""
    return "_bus_log" in vars(node)
