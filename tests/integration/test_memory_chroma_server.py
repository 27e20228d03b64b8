"""The bank against a real Chroma server (`chroma run`), the production configuration."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nodes.memory.bank import MemoryBank
from nodes.memory.embeddings import MiniLmEncoder
from nodes.memory.records import MemoryRecord
from nodes.memory.store import ChromaSettings, StoreError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    chroma = shutil.which("chroma") or str(Path(__file__).parents[2] / ".venv" / "bin" /
                                           "chroma")
    port = free_port()
    server = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"), "--host",
                               "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
class TestChromaServer:
    # both search paths against the server
    @pytest.mark.parametrize("backend", ["memory", "chroma"])
    def test_remember_search_forget(self, chroma_server: int, tmp_path: Path,
                                    backend: str) -> None:
        encoder = MiniLmEncoder()
        settings = ChromaSettings(host="127.0.0.1", port=chroma_server, collection=backend)
        bank = MemoryBank(tmp_path / "journal", encoder, chroma=settings,
                          search_backend=backend)  # type: ignore[arg-type]
        bank.remember([
            MemoryRecord(id="a", text="alice: my cat is called Biscuit", kind="chat",
                         viewer="twitch:1"),
            MemoryRecord(id="b", text="bob: my cat is called Tom", kind="chat",
                         viewer="twitch:2"),
        ])
        assert bank.count() == 2
        [(hit, _)] = bank.search("what's my cat called?", 1, viewer="twitch:1")
        assert hit.id == "a"
        assert bank.forget("twitch:1") == 1
        assert [r.id for r, _ in bank.search("cat", 5)] == ["b"]
        bank.close()
        assert not (tmp_path / "journal" / "chroma").exists()  # nothing embedded

    def test_unreachable_server_names_it(self, tmp_path: Path) -> None:
        port = free_port()
        with pytest.raises(StoreError, match=(
                rf"Chroma server 127\.0\.0\.1:{port} is unreachable.*chroma run --path")):
            MemoryBank(tmp_path, MiniLmEncoder(),
                       chroma=ChromaSettings(host="127.0.0.1", port=port))
