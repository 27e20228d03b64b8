"""The memory node: stores every turn and chat line, serves ``memory/search`` and forgets."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus.errors import ParameterError
from bus.node import Node, NodeOptions
from messages.base import Header
from messages.chat import ChatMessage, ChatSay
from messages.memory import (
    ConversationTurn,
    ForgetViewer,
    ForgetViewerRequest,
    ForgetViewerResponse,
    MemoryHit,
    MemoryQuery,
    MemoryResults,
    MemoryStored,
    SearchMemory,
)
from nodes.memory.bank import FactMemory, MemoryBank
from nodes.memory.commands import ViewerDirectory, parse_forget, viewer_key
from nodes.memory.embeddings import MiniLmEncoder
from nodes.memory.records import MemoryRecord
from nodes.memory.store import ChromaSettings
from nodes.memory.summarise import Conversations

__all__ = ["MemoryNode", "default_store_path"]

WRITE_BATCH = 256
SUMMARY_CHECK_S = 5.0
SHUTDOWN_FLUSH_S = 10.0


def default_store_path() -> Path:
    """``$VT_DATA_DIR/memory``, else ``~/.local/share/vtshow/memory``."""
    base = os.environ.get("VT_DATA_DIR") or Path.home() / ".local" / "share" / "vtshow"
    return Path(base) / "memory"


@dataclass
class _Forget:
    viewer: str
    done: asyncio.Future[int]


class MemoryNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("memory", options=options)
        store_path = self.declare_parameter(
            "store_path", "", "folder of the journal and embedded store ('' = default)",
            read_only=True)
        chroma_host = self.declare_parameter(
            "chroma_host", "", "Chroma server host ('' = embedded store)", read_only=True)
        chroma_port = self.declare_parameter("chroma_port", 8000, "Chroma server port",
                                             read_only=True)
        collection = self.declare_parameter("collection", "memories", "Chroma collection",
                                            read_only=True)
        rebuild = self.declare_parameter(
            "rebuild", False, "rebuild the store from the journal (corrupt or missing store)",
            read_only=True)
        facts = self.declare_parameter("facts", "", "fact memory: '' (none) or 'mem0'",
                                       read_only=True)
        llm_url = self.declare_parameter(
            "llm_url", "", "OpenAI-compatible LLM for Mem0 fact extraction ('' = none)",
            read_only=True)
        llm_model = self.declare_parameter("llm_model", "", "model name at llm_url",
                                           read_only=True)
        search_backend = self.declare_parameter(
            "search_backend", "memory",
            "'memory' (exact, in-process, loaded from the journal) or 'chroma' (its query)",
            read_only=True)
        self.max_k = self.declare_parameter("max_k", 50, "most results one search returns")
        self.forget_command = self.declare_parameter("forget_command", "!forget",
                                                     "chat command that forgets a viewer")
        blas_threads = self.declare_parameter(
            "encoder_threads", 1, "BLAS threads for embeddings (0 = numpy's default)",
            read_only=True)
        every = self.declare_parameter("summary_turns", 12, "turns per episodic summary")
        idle_s = self.declare_parameter("summary_idle_s", 120.0,
                                        "summarise a conversation quiet this long (s)")

        if search_backend not in ("memory", "chroma"):
            raise ParameterError(f"parameter search_backend must be 'memory' or 'chroma', "
                                 f"got {search_backend!r}")
        folder = Path(store_path) if store_path else default_store_path()
        self.encoder = MiniLmEncoder(blas_threads=blas_threads)
        chroma = ChromaSettings(path=str(folder / "chroma"), host=chroma_host,
                                port=chroma_port, collection=collection)
        self.bank = MemoryBank(folder, self.encoder, chroma=chroma, rebuild=rebuild,
                               facts=self._fact_factory(facts, folder, llm_url, llm_model),
                               search_backend=search_backend)
        self.log.info("memory store %s: %d memories", folder, self.bank.count())
        self.conversations = Conversations(every=every, idle_s=idle_s)
        self.viewers = ViewerDirectory()
        self.stream = ""
        self._writes: deque[list[MemoryRecord] | _Forget] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._facts_pending: deque[MemoryRecord] = deque()
        self._facts_wake = asyncio.Event()
        self._fact_worker: asyncio.Task[None] | None = None

        self.stored_pub = self.create_publisher(MemoryStored, "memory/stored")
        self.say_pub = self.create_publisher(ChatSay, "chat/say")
        self.create_subscription(ConversationTurn, "memory/turn", self.on_turn)
        self.create_subscription(ChatMessage, "chat/message", self.on_chat)
        self.create_service(SearchMemory, "memory/search", self.on_search)
        self.create_service(ForgetViewer, "memory/forget", self.on_forget)
        self.create_timer(SUMMARY_CHECK_S, self.on_summary_timer)

    def _fact_factory(self, facts: str, folder: Path, llm_url: str,
                      llm_model: str) -> Any:
        if not facts:
            return None
        if facts != "mem0":
            raise ParameterError(f"parameter facts must be '' or 'mem0', got {facts!r}")
        from nodes.memory.mem0_backend import Mem0Facts, Mem0Settings

        settings = Mem0Settings(folder=str(folder / "mem0"), llm_url=llm_url,
                                llm_model=llm_model)

        def make(client: Any) -> FactMemory:
            return Mem0Facts(settings, self.encoder, client)

        return make

    # ------------------------------------------------------------------ inputs

    def on_turn(self, turn: ConversationTurn, header: Header) -> None:
        if not turn.turn_id or not turn.text.strip():
            self._bad_input(header.publisher, "memory/turn", "a turn needs a turn_id and text")
            return
        if turn.stream:
            self.stream = turn.stream
        self._remember([MemoryRecord(
            id=turn.turn_id, text=f"{turn.speaker}: {turn.text.strip()}", kind="turn",
            persona=turn.persona, viewer=turn.viewer, stream=turn.stream, speaker=turn.speaker,
            stamp_ns=turn.stamp_ns or time.time_ns(), source_turn=turn.turn_id,
            cut_off=turn.cut_off,
        )])

    async def on_chat(self, msg: ChatMessage) -> None:
        self.viewers.saw(msg)
        command = parse_forget(msg, self.viewers, self.forget_command)
        if command is not None:
            if command.viewer:
                await self._forget(command.viewer)
            self.say_pub.publish(ChatSay(text=command.reply, platform=msg.platform,
                                         channel=msg.channel, reply_to=msg.id))
            return
        if msg.kind != "text" or not msg.user_id or not msg.text.strip() \
                or msg.text.startswith("!"):
            return
        chat_id = f"chat:{msg.platform}:{msg.id or uuid.uuid4().hex}"
        self._remember([MemoryRecord(
            id=chat_id, text=f"{msg.user}: {msg.text.strip()}", kind="chat",
            viewer=viewer_key(msg.platform, msg.user_id), stream=self.stream, speaker=msg.user,
            stamp_ns=msg.sent_ns or time.time_ns(), source_turn=chat_id,
        )])

    async def on_search(self, query: MemoryQuery) -> MemoryResults:
        k = min(query.k, self.max_k)
        if k <= 0 or not query.query.strip():
            return MemoryResults()
        hits = await asyncio.to_thread(self.bank.search, query.query, k,
                                       persona=query.persona, viewer=query.viewer)
        return MemoryResults(hits=[
            MemoryHit(text=r.text, score=score, kind=r.kind, persona=r.persona, viewer=r.viewer,
                      stream=r.stream, stamp_ns=r.stamp_ns, source_turn=r.source_turn,
                      cut_off=r.cut_off)
            for r, score in hits
        ])

    async def on_forget(self, request: ForgetViewerRequest) -> ForgetViewerResponse:
        if ":" not in request.viewer:
            raise ValueError(f"viewer must be platform:user_id, got {request.viewer!r}")
        return ForgetViewerResponse(removed=await self._forget(request.viewer))

    def on_summary_timer(self) -> None:
        summaries = self.conversations.due(time.monotonic())
        if summaries:
            self._remember(summaries)

    # ------------------------------------------------------------------ the writer

    def _remember(self, records: list[MemoryRecord]) -> None:
        self._start_writer()
        self._writes.append(records)
        self._wake.set()

    async def _forget(self, viewer: str) -> int:
        self._start_writer()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._writes.append(_Forget(viewer, done))
        self._wake.set()
        return await done

    def _start_writer(self) -> None:
        if self._writer is None:
            loop = asyncio.get_running_loop()
            self._writer = loop.create_task(self._write_loop())
            if self.bank.facts is not None:
                self._fact_worker = loop.create_task(self._facts_loop())

    async def _write_loop(self) -> None:
        """One writer, in order: batches of memories (one fsync each) and forgets.

        Returns once closing and everything queued is written.
        """
        while True:
            if not self._writes:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            op = self._writes.popleft()
            if isinstance(op, _Forget):
                await self._do_forget(op)
                continue
            batch = list(op)
            while self._writes and isinstance(self._writes[0], list) \
                    and len(batch) < WRITE_BATCH:
                batch += self._writes.popleft()  # type: ignore[arg-type]
            try:
                embeddings = await asyncio.to_thread(self.bank.remember, batch)
            except Exception as exc:
                self.counters["store_errors"] += 1
                self.log.error("could not store %d memories: %s", len(batch), exc)
                continue
            self.counters["stored"] += len(batch)
            self.stored_pub.publish(MemoryStored(ids=[r.id for r in batch]))
            self._after_stored(batch, embeddings)

    def _after_stored(self, batch: list[MemoryRecord], embeddings: Any) -> None:
        now = time.monotonic()
        summaries: list[MemoryRecord] = []
        for record, embedding in zip(batch, embeddings, strict=True):
            if record.kind in ("turn", "chat"):
                summaries += self.conversations.add(record, embedding, now)
                if self.bank.facts is not None and record.viewer:
                    self._facts_pending.append(record)
                    self._facts_wake.set()
        if summaries:
            self._writes.append(summaries)

    async def _do_forget(self, op: _Forget) -> None:
        self.conversations.forget(op.viewer)
        self._facts_pending = deque(r for r in self._facts_pending if r.viewer != op.viewer)
        try:
            removed = await asyncio.to_thread(self.bank.forget, op.viewer)
        except Exception as exc:
            self.counters["store_errors"] += 1
            op.done.set_exception(exc)
            return
        self.counters["forgotten_viewers"] += 1
        op.done.set_result(removed)

    async def _facts_loop(self) -> None:
        """Fact extraction (an LLM call per line with Mem0), off the write path."""
        facts = self.bank.facts
        assert facts is not None
        while True:
            if not self._facts_pending:
                self._facts_wake.clear()
                await self._facts_wake.wait()
                continue
            record = self._facts_pending.popleft()
            try:
                await asyncio.to_thread(facts.add, record)
            except Exception as exc:
                self.counters["fact_errors"] += 1
                self.log.warning("fact extraction failed for %s: %s", record.id, exc)

    async def on_shutdown(self) -> None:
        """Write what is queued (SIGTERM loses nothing), then close the journal."""
        self._closing = True
        self._wake.set()
        if self._fact_worker is not None:
            self._fact_worker.cancel()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._writer, SHUTDOWN_FLUSH_S)
            except TimeoutError:
                self.log.error("memories still queued after %.0f s at shutdown: %d batches "
                               "not stored", SHUTDOWN_FLUSH_S, len(self._writes))
        self.bank.close()
