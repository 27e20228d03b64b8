"""Model servers for the LLM tests: the bundled model served over HTTP by xllamacpp in its own
process (the real OpenAI-compatible stand-in for vLLM), a loopback TCP proxy that can cut a
response mid-stream the way a dying server does, and a scripted fake of vLLM's streaming
tool-call output (vLLM itself needs a GPU)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from typing import Any, Self

from helpers.ports import free_port
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

__all__ = ["CuttingProxy", "FakeVllm", "ModelServer"]


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


class LoopbackServer:
    """A TCP server on a free 127.0.0.1 port that hands each connection to ``_handle``."""

    port = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class CuttingProxy(LoopbackServer):
    """Forwards 127.0.0.1:port to ``upstream``; while ``cut_after`` is set, the next response
    stream is closed after that many server-sent events (``data:`` lines), as a server that
    dies mid-reply does; then the proxy passes everything through again."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.cut_after: int | None = None
        self.cuts = 0

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


class FakeVllm(LoopbackServer):
    """A loopback stand-in for ``vllm serve`` where a real one cannot run (no GPU): it answers
    ``GET /v1/models`` and streams ``POST /v1/chat/completions`` as vLLM does (server-sent
    events of OpenAI chunks, then ``data: [DONE]``), replaying ``script``: the chunks' deltas
    (a request without ``stream`` gets their text as one ``chat.completion``, as vLLM answers).
    Every request body is kept in ``requests``. ``POST /tokenize`` answers as vLLM's does
    (``{"model", "prompt"}`` in, ``{"count", "max_model_len", "tokens"}`` out; a body without
    ``prompt`` is a 400), with a token per UTF-8 byte; its bodies go to ``tokenize_requests``.
    While ``tokenize_failures`` is above zero, each ``/tokenize`` is a 503 (a busy or
    restarting server) and counts it down.

    Guided decoding: a ``response_format`` is checked as vLLM's OpenAI server checks it
    (``type`` ``json_schema`` with a ``json_schema`` object holding a ``name`` and a valid JSON
    ``schema``; not beside another guided-decoding field such as ``guided_json``), and the
    script's text must then be JSON valid under that schema, since guided decoding cannot
    stream anything else. A request failing either is answered 400, as vLLM answers, and the
    reason kept in ``refusals``."""

    def __init__(self, models: list[str]):
        self.models = models
        self.script: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.tokenize_requests: list[dict[str, Any]] = []
        self.tokenize_failures = 0
        self.warm_up_gate: asyncio.Event | None = None
        """When set to an Event, one-token requests (a warm-up) are answered once it is set."""
        self.refusals: list[str] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        length = 0
        while (line := (await reader.readline()).decode().strip()):
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        if request_line.startswith("GET /v1/models"):
            payload = json.dumps({"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "vllm"} for m in self.models]}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(payload), payload))
        elif request_line.startswith("POST /tokenize"):
            self._tokenize(writer, json.loads(body))
        else:
            request = json.loads(body)
            self.requests.append(request)
            if self.warm_up_gate is not None and request.get("max_tokens") == 1:
                await self.warm_up_gate.wait()
            refusal = self._guided_refusal(request)
            if refusal:
                self.refusals.append(refusal)
                payload = json.dumps({"object": "error", "type": "BadRequestError",
                                      "code": 400, "message": refusal}).encode()
                writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(payload), payload))
                await writer.drain()
                writer.close()
                return
            if not request.get("stream"):  # one chat.completion object (Mem0's requests)
                self._complete(writer, request)
                await writer.drain()
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"connection: close\r\n\r\n")
            for delta, finish in [({"role": "assistant", "content": ""}, None), *self.script]:
                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                         "created": 0, "model": request["model"],
                         "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                      "finish_reason": finish}]}
                writer.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                await writer.drain()
            usage = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                     "model": request["model"], "choices": [],
                     "usage": {"prompt_tokens": 10, "completion_tokens": len(self.script),
                               "total_tokens": 10 + len(self.script)}}
            writer.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        await writer.drain()
        writer.close()

    def _complete(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        """A request without ``stream``: the script's text as one ``chat.completion``."""
        text = "".join(delta.get("content") or "" for delta, _ in self.script)
        payload = json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
            "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(self.script),
                      "total_tokens": 10 + len(self.script)},
        }).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
                     % (len(payload), payload))

    def _guided_refusal(self, request: dict[str, Any]) -> str:
        """Why vLLM would refuse this request's guided decoding, or why it could never have
        streamed the script under it ("" when all is well)."""
        if "response_format" not in request:
            return ""
        response_format = request["response_format"]
        if not isinstance(response_format, dict) or response_format.get("type") not in (
                "text", "json_object", "json_schema"):
            return f"response_format: unknown type in {response_format!r:.200}"
        if response_format["type"] != "json_schema":
            return ""
        others = [key for key in ("guided_json", "guided_regex", "guided_choice",
                                  "guided_grammar", "structured_outputs") if key in request]
        if others:
            return ("You can only use one kind of guided decoding: response_format and "
                    + ", ".join(others))
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            return "response_format.json_schema: a 'name' (string) is required"
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            return "response_format.json_schema.schema must be an object"
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            return f"response_format.json_schema.schema is not a JSON schema: {exc.message}"
        text = "".join(delta.get("content") or "" for delta, _ in self.script)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return f"fake vLLM: the script is not JSON, guided decoding cannot stream it: {text!r:.200}"
        error = best_match(Draft202012Validator(schema).iter_errors(value))
        if error is not None:
            return (f"fake vLLM: the script is not valid under the response_format schema "
                    f"({error.json_path}: {error.message})")
        return ""

    def _tokenize(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        self.tokenize_requests.append(request)
        if self.tokenize_failures > 0:
            self.tokenize_failures -= 1
            status, answer = b"503 Service Unavailable", {
                "object": "error", "type": "ServiceUnavailableError", "code": 503,
                "message": "the server is not ready"}
        elif not isinstance(request.get("prompt"), str):
            status, answer = b"400 Bad Request", {
                "object": "error", "type": "BadRequestError", "code": 400,
                "message": "[{'type': 'missing', 'loc': ('body', 'prompt'), "
                           "'msg': 'Field required'}]"}
        else:
            tokens = list(request["prompt"].encode())
            status, answer = b"200 OK", {"count": len(tokens), "max_model_len": 4096,
                                         "tokens": tokens, "token_strs": None}
        payload = json.dumps(answer).encode()
        writer.write(b"HTTP/1.1 %s\r\ncontent-type: application/json\r\n"
                     b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
                     % (status, len(payload), payload))
