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

import numpy as np

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
from nodes.memory.backlog import Backlog
from nodes.memory.bank import FactMemory, MemoryBank
from nodes.memory.commands import ViewerDirectory, parse_forget, viewer_key
from nodes.memory.embeddings import MiniLmEncoder
from nodes.memory.records import MemoryRecord
from nodes.memory.store import ChromaSettings
from nodes.memory.summarise import Conversations

__all__ = ["MemoryNode", "default_store_path"]

EMBED_BATCH = 64
"""Lines per forward pass: a search sees a line at most about one batch after it arrived
(64 lines: ~0.2 s of one core here); larger batches were no faster per line."""
STORE_BATCH = 512
"""Most lines per journal fsync and store write: consecutive embedded batches are merged
(Chroma upserted 770 lines/s in batches of 32, 1,200-1,800/s in batches of 256-512 here)."""
BACKLOG_LIMIT = 200_000
"""Most lines waiting in RAM (~300 bytes each); beyond it lines wait only in the journal,
embedded at the next start."""
EMBEDDED_AHEAD = 4
"""Embedded batches that may wait for the store writer (their vectors are 1.5 kB a line)."""
RECEIVED_SYNC_S = 0.05
"""Received lines are fsync'ed at most this long after they were written."""
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


class _End:
    """The embedder's last item for the writer (at shutdown)."""


_Embedded = tuple[list[MemoryRecord], np.ndarray]


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
        encoder_threads = self.declare_parameter(
            "encoder_threads", 1,
            "threads per embedding pass and for numpy (0 = the libraries' defaults)",
            read_only=True)
        every = self.declare_parameter("summary_turns", 12, "turns per episodic summary")
        idle_s = self.declare_parameter("summary_idle_s", 120.0,
                                        "summarise a conversation quiet this long (s)")

        if search_backend not in ("memory", "chroma"):
            raise ParameterError(f"parameter search_backend must be 'memory' or 'chroma', "
                                 f"got {search_backend!r}")
        folder = Path(store_path) if store_path else default_store_path()
        self.encoder = MiniLmEncoder(threads=encoder_threads)
        chroma = ChromaSettings(path=str(folder / "chroma"), host=chroma_host,
                                port=chroma_port, collection=collection)
        self.bank = MemoryBank(folder, self.encoder, chroma=chroma, rebuild=rebuild,
                               facts=self._fact_factory(facts, folder, llm_url, llm_model),
                               search_backend=search_backend)
        self.log.info("memory store %s: %d memories", folder, self.bank.count())
        self.conversations = Conversations(every=every, idle_s=idle_s)
        self.viewers = ViewerDirectory()
        self.stream = ""
        self._backlog: Backlog[_Forget] = Backlog(BACKLOG_LIMIT)
        waiting = self._backlog.add(self.bank.pending)  # received before a stop: embedded first
        if waiting < len(self.bank.pending):
            self.log.warning("%d memories received before the last stop wait in the journal "
                             "for the next start (the backlog holds %d)",
                             len(self.bank.pending) - waiting, BACKLOG_LIMIT)
        self._overflowing = False
        self._wake = asyncio.Event()
        self._embedded: asyncio.Queue[_Embedded | _Forget | _End] = asyncio.Queue(
            EMBEDDED_AHEAD)
        self._closing = False
        self._embedder: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[None]] = set()
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
            self.report_bad_input(header.publisher, "memory/turn", "a turn needs a turn_id and text")
            return
        if turn.stream:
            self.stream = turn.stream
        self._remember([MemoryRecord(
            id=turn.turn_id, text=f"{turn.speaker}: {turn.text.strip()}", kind="turn",
            persona=turn.persona, viewer=turn.viewer, stream=turn.stream, speaker=turn.speaker,
            stamp_ns=turn.stamp_ns or time.time_ns(), source_turn=turn.turn_id,
            cut_off=turn.cut_off,
        )])

    def on_chat(self, msg: ChatMessage) -> None:
        # not async: the line is journaled before the bus hands over the next one (an async
        # callback would wait in the subscription's queue, which drops the oldest in a flood)
        self.viewers.saw(msg)
        command = parse_forget(msg, self.viewers, self.forget_command)
        if command is not None:
            reply = ChatSay(text=command.reply, platform=msg.platform, channel=msg.channel,
                            reply_to=msg.id)
            if not command.viewer:
                self.say_pub.publish(reply)
                return
            # queued now, in order with the lines around it; the reply waits for it
            task = asyncio.get_running_loop().create_task(
                self._say_when_done(self._queue_forget(command.viewer), command.viewer, reply))
            self._replies.add(task)
            task.add_done_callback(self._replies.discard)
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

    async def _say_when_done(self, forgotten: asyncio.Future[int], viewer: str,
                             reply: ChatSay) -> None:
        try:
            await forgotten
        except Exception as exc:
            self.log.error("could not forget %s: %s", viewer, exc)
            return
        self.say_pub.publish(reply)

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
        return ForgetViewerResponse(removed=await self._queue_forget(request.viewer))

    def on_summary_timer(self) -> None:
        summaries = self.conversations.due(time.monotonic())
        if summaries:
            self._remember(summaries)

    # ------------------------------------------------------------------ the writer
    # receipt (journal, no fsync) -> backlog -> embedder (batches) -> writer (fsync'ed
    # journal, index, store, acknowledgement); forgets travel the same way, in order

    def _remember(self, records: list[MemoryRecord]) -> None:
        self.bank.receive(records)  # from here a SIGKILL cannot lose them
        self.counters["received"] += len(records)
        queued = self._backlog.add(records)
        if queued < len(records):
            self.counters["backlog_overflow"] += len(records) - queued
            if not self._overflowing:
                self._overflowing = True
                self.log.warning("more than %d memories wait to be embedded: the newest wait "
                                 "in the journal and are embedded at the next start",
                                 self._backlog.limit)
        self._start_writer()
        self._wake.set()
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.get_running_loop().create_task(self._sync_received())

    def _queue_forget(self, viewer: str) -> asyncio.Future[int]:
        """Queue forgetting ``viewer`` after everything received so far; the future gives how
        many memories were removed."""
        self._start_writer()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._backlog.mark(_Forget(viewer, done))
        self._wake.set()
        return done

    async def start(self) -> None:
        await super().start()
        self._start_writer()  # memories received before the last stop wait in the backlog

    def _start_writer(self) -> None:
        if self._writer is None:
            loop = asyncio.get_running_loop()
            self._embedder = loop.create_task(self._embed_loop())
            self._writer = loop.create_task(self._write_loop())
            if self.bank.facts is not None:
                self._fact_worker = loop.create_task(self._facts_loop())
            self._wake.set()

    async def _sync_received(self) -> None:
        """fsync received lines once per interval, however many arrived in it."""
        await asyncio.sleep(RECEIVED_SYNC_S)
        try:
            await asyncio.to_thread(self.bank.sync_received)
        except OSError as exc:
            self.counters["journal_errors"] += 1
            self.log.error("could not fsync the memory journal: %s", exc)

    async def _embed_loop(self) -> None:
        """Embeds the backlog batch by batch, in order, and hands the batches to the writer.

        A search embeds its query in its own thread meanwhile, so it never waits behind the
        backlog. At shutdown it stops after the batch in hand: the rest is journaled."""
        while True:
            item = None if self._closing else self._backlog.take(EMBED_BATCH)
            if item is None:
                if self._closing:
                    await self._embedded.put(_End())
                    return
                self._overflowing = False  # the backlog is empty: warn again next time
                self._wake.clear()
                await self._wake.wait()
                continue
            if isinstance(item, _Forget):
                await self._embedded.put(item)
                continue
            try:
                embeddings = await asyncio.to_thread(self.bank.embed, item)
            except Exception as exc:  # they stay journaled as received: embedded at next start
                self.counters["embed_errors"] += 1
                self.log.error("could not embed %d memories: %s", len(item), exc)
                continue
            await self._embedded.put((item, embeddings))

    async def _write_loop(self) -> None:
        """One writer, in order: embedded batches (merged up to STORE_BATCH, one fsync and
        one store write each) and forgets. Returns after the embedder's last item."""
        carried: _Embedded | _Forget | _End | None = None
        while True:
            item = carried if carried is not None else await self._embedded.get()
            carried = None
            if isinstance(item, _End):
                return
            if isinstance(item, _Forget):
                await self._do_forget(item)
                continue
            records, vectors = list(item[0]), [item[1]]
            while len(records) < STORE_BATCH and not self._embedded.empty():
                more = self._embedded.get_nowait()
                if not isinstance(more, tuple):
                    carried = more
                    break
                records += more[0]
                vectors.append(more[1])
            await self._keep(records, np.concatenate(vectors))

    async def _keep(self, records: list[MemoryRecord], embeddings: np.ndarray) -> None:
        try:
            await asyncio.to_thread(self.bank.keep, records, embeddings)
        except Exception as exc:
            self.counters["store_errors"] += 1
            self.log.error("could not store %d memories: %s", len(records), exc)
            return
        self.counters["stored"] += len(records)
        self.stored_pub.publish(MemoryStored(ids=[r.id for r in records]))
        self._after_stored(records, embeddings)

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
            self._remember(summaries)

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
        """Finish the batch in hand, then close the journal; lines still waiting are
        journaled as received and embedded first at the next start."""
        self._closing = True
        self._wake.set()
        if self._fact_worker is not None:
            self._fact_worker.cancel()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._writer, SHUTDOWN_FLUSH_S)
            except TimeoutError:
                self.log.error("the memory writer did not finish within %.0f s at shutdown; "
                               "what it held is journaled and replayed at the next start",
                               SHUTDOWN_FLUSH_S)
        if self._backlog:
            self.log.info("stopping with %d memories still to embed: journaled, embedded "
                          "first at the next start", len(self._backlog))
        while (item := self._backlog.take(BACKLOG_LIMIT)) is not None:
            if isinstance(item, _Forget):  # never journaled: the viewer can ask again
                item.done.set_exception(RuntimeError("the memory node is stopping"))
        self.bank.close()
