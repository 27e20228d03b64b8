"""Run one node as a process: ``python -m nodes.NAME [--bus URL] [--name N] [-p k:=v] [-r a:=b]``.

The launch file passes the same things through the environment (``VT_BUS``, ``VT_NODE_NAME``,
``VT_PARAMS`` and ``VT_REMAPS`` as JSON objects); the command line wins.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from bus.errors import VtError
from bus.node import Node, NodeOptions
from bus.params import parse_assignment
from bus.text import escape_control

__all__ = ["EscapingFormatter", "options_from_argv", "run"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def options_from_argv(argv: list[str] | None = None, *, prog: str = "node") -> NodeOptions:
    """Node options from the environment, then the command line."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--bus", default=None, help="ipc://FOLDER or tcp://HOST:PORT")
    parser.add_argument("--name", default=os.environ.get("VT_NODE_NAME"))
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE")
    parser.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO")
    parser.add_argument("--params-file", help="a JSON object of parameter values")
    parser.add_argument("--log-level", default=os.environ.get("VT_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter(LOG_FORMAT))
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

    A node that fails to start or dies logs the error as ``fatal`` (published on
    ``system/log``) before the process exits with status 1.
    """
    options = options_from_argv(argv, prog=getattr(factory, "__module__", "node"))
    try:
        asyncio.run(_main(factory, options))
    except KeyboardInterrupt:
        pass
    except VtError as exc:
        logging.getLogger(options.name or "node").critical("%s", exc)
        raise SystemExit(1) from None


async def _main(factory: Callable[..., Node], options: NodeOptions) -> None:
    node = factory(options=options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, node.shutdown)
    try:
        await node.spin()
    except Exception as exc:
        node.log.critical("node died: %s: %s", type(exc).__name__, exc, exc_info=True)
        await asyncio.sleep(0.05)  # let the fatal event leave
        raise SystemExit(1) from None
    finally:
        await node.close()
