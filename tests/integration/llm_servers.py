"""Real model servers for the LLM tests: the bundled model served over HTTP by xllamacpp in its
own process (the OpenAI-compatible stand-in for vLLM), and a loopback TCP proxy that can cut a
response mid-stream the way a dying server does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys

__all__ = ["CuttingProxy", "ModelServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ModelServer:
    """``python -m nodes.llm.serve`` on a port (0: a free one); started, killed, restarted."""

    def __init__(self, port: int = 0, threads: int = 2):
        self.port = port or free_port()
        self.threads = threads
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ModelServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nodes.llm.serve", "--port", str(self.port),
             "--threads", str(self.threads), "--slots", "1"],
            stdout=subprocess.PIPE, text=True, env={**os.environ},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once the model is loaded
        if not line.startswith("listening on"):
            self.stop()
            raise RuntimeError(f"model server did not start: {line!r}")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class CuttingProxy:
    """Forwards 127.0.0.1:port to ``upstream``; while ``cut_after`` is set, the next response
    stream is closed after that many server-sent events (``data:`` lines), as a server that
    dies mid-reply does; then the proxy passes everything through again."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.cut_after: int | None = None
        self.cuts = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        requests = asyncio.ensure_future(self._pump(reader, up_writer, cut=False))
        await self._pump(up_reader, writer, cut=True)
        requests.cancel()
        for w in (writer, up_writer):
            w.close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *,
                    cut: bool) -> None:
        events = 0
        while True:
            data = await src.read(4096)
            if not data:
                return
            dst.write(data)
            await dst.drain()
            events += data.count(b"data:")
            if cut and self.cut_after is not None and events >= self.cut_after:
                self.cuts += 1
                self.cut_after = None
                return
