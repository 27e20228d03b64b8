"""The bank against a real Chroma server (`chroma run`), the production configuration."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers.ports import free_port

from nodes.memory.bank import MemoryBank
from nodes.memory.embeddings import MiniLmEncoder
from nodes.memory.records import MemoryRecord
from nodes.memory.store import ChromaSettings, StoreError


class ChromaServer:
    """``chroma run`` on a folder and a free loopback port; restartable on the same ones."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChromaServer:
        chroma = shutil.which("chroma") or str(Path(__file__).parents[2] / ".venv" / "bin" /
                                               "chroma")
        self.proc = subprocess.Popen(
            [chroma, "run", "--path", str(self.folder), "--host", "127.0.0.1", "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1.0)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "server").start()
    yield server
    server.stop()


@pytest.mark.slow
class TestChromaServer:
    # both search paths against the server
    @pytest.mark.parametrize("backend", ["memory", "chroma"])
    def test_remember_search_forget(self, server: ChromaServer, tmp_path: Path,
                                    backend: str) -> None:
        encoder = MiniLmEncoder()
        settings = ChromaSettings(host="127.0.0.1", port=server.port, collection=backend)
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

    def test_server_outage_loses_nothing(self, server: ChromaServer, tmp_path: Path) -> None:
        bank = MemoryBank(tmp_path / "journal", MiniLmEncoder(),
                          chroma=ChromaSettings(host="127.0.0.1", port=server.port))
        bank.remember([MemoryRecord(id="a", text="alice: my cat is Biscuit", kind="chat",
                                    viewer="twitch:1"),
                       MemoryRecord(id="d", text="dave: my bike is a Brompton", kind="chat",
                                    viewer="twitch:4")])
        server.stop()
        with pytest.raises(StoreError, match=r"safe in .*journal\.bin and will be replayed"):
            bank.remember([MemoryRecord(id="b", text="alice: I live in Lisbon", kind="chat",
                                        viewer="twitch:1")])
        # the journal has it, so the in-memory search still finds it during the outage
        assert bank.search("where do I live?", 1, viewer="twitch:1")[0][0].id == "b"
        with pytest.raises(StoreError, match="will be replayed"):
            bank.forget("twitch:4")  # journaled, finished when the server is back
        assert bank.search("my bike", 5, viewer="twitch:4") == []  # gone from the index now
        server.start()
        bank.remember([MemoryRecord(id="c", text="alice: I'm a nurse", kind="chat",
                                    viewer="twitch:1")])
        assert bank.count() == 3  # "b" replayed into the server, "d" deleted from it
        assert b"Brompton" not in (tmp_path / "journal" / "journal.bin").read_bytes()
        bank.close()

    def test_unreachable_server_names_it(self, tmp_path: Path) -> None:
        port = free_port()
        with pytest.raises(StoreError, match=(
                rf"Chroma server 127\.0\.0\.1:{port} is unreachable.*chroma run --path")):
            MemoryBank(tmp_path, MiniLmEncoder(),
                       chroma=ChromaSettings(host="127.0.0.1", port=port))
