"""What every tool needs: a hidden node on the bus, and the graph with a clear error."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer

from bus import protocol as p
from bus.cli.output import Output
from bus.errors import VtError
from bus.node import Node, NodeOptions

__all__ = ["BUS_OPTION", "fetch_graph", "run_tool", "tool_node"]

T = TypeVar("T")

BUS_OPTION = typer.Option(None, "--bus", help="ipc://FOLDER or tcp://HOST:PORT (default: VT_BUS)")


@asynccontextmanager
async def tool_node(bus: str | None, tool: str) -> AsyncIterator[Node]:
    """A hidden node (``vtnode list --all`` shows it) for one command's lifetime."""
    node = Node(f"_{tool}_{os.getpid()}", options=NodeOptions(bus=bus, hidden=True))
    await node.start()
    try:
        yield node
    finally:
        await node.close()


async def fetch_graph(node: Node, timeout: float = 2.0) -> p.Graph:
    try:
        return await node.graph(timeout=timeout)
    except TimeoutError:
        raise VtError(
            f"no vtbus answers at {node.address.url}: is the show running? Start it with "
            "`vtlaunch stream.launch.toml`, or point at it with --bus / VT_BUS"
        ) from None


def run_tool(out: Output, main: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
    """Run a tool's coroutine: Ctrl-C ends it quietly, our errors print and exit 1."""
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return None
    except VtError as exc:
        out.error(str(exc))
        raise typer.Exit(1) from None

