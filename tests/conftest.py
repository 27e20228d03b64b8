"""Fixtures shared by every test: a real vtbus per test, real node processes on it, a
fresh folder for the memory node's store, one Minecraft server and one X display (Xvfb)
for the session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.display import Xvfb, x_display_session
from helpers.minecraft import MinecraftServer, minecraft_server_session

from bus.testing import BusProcess, NodeProcess


@pytest.fixture
def bus() -> Iterator[BusProcess]:
    """A fresh vtbus process on its own ipc folder, stopped after the test."""
    with BusProcess(ttl_s=2.0) as process:
        yield process


@pytest.fixture
def bus_url(bus: BusProcess) -> str:
    return bus.url


@pytest.fixture
def start_node(bus_url: str) -> Iterator[Callable[..., NodeProcess]]:
    """``start_node("nodes.chat", name=..., params={...})`` starts a real node on the test's
    bus; every node started is stopped after the test."""
    started: list[NodeProcess] = []

    def start(module: str, **kwargs: Any) -> NodeProcess:
        process = NodeProcess(module, kwargs.pop("bus_url", bus_url), **kwargs).start()
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


@pytest.fixture
def memory_store(tmp_path: Path) -> Iterator[Path]:
    """A folder for a memory store (``store_path``); Chroma's per-process client cache is
    cleared after the test, so the next test's store is opened afresh."""
    yield tmp_path / "memory"
    from chromadb.api.client import SharedSystemClient  # only the memory tests pay its import

    SharedSystemClient.clear_system_cache()


@pytest.fixture(scope="session")
def minecraft_server() -> Iterator[MinecraftServer]:
    """A real flying-squid on 127.0.0.1 (tests/helpers/minecraft.py), started by the first test
    that asks and shared by the session; a test that stops or restarts a server starts its own.
    Bots of different tests need different usernames (a name joining twice kicks the first)."""
    yield from minecraft_server_session()


@pytest.fixture(scope="session")
def x_display() -> Iterator[Xvfb]:
    """A real X display, 1280x720 (tests/helpers/display.py), started by the first test that
    asks and shared by the session; its ``name`` is the ``DISPLAY`` value."""
    yield from x_display_session()
