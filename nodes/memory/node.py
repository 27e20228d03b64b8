"""The memory node: stores every turn and chat line, serves ``memory/search`` and forgets."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bus.node import Node, NodeOptions
from bus.worker import Worker, WorkQueue
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
from nodes.memory.params import Params
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
NO_FACTS = ("facts: none extracted (facts ''): Mem0 extracts viewers' facts with a served "
            "model (llm:=vllm gives it vLLM's); its extraction request, 8,631 tokens, does not "
            "fit the bundled CPU model's 8,192-token context, so lines are remembered as said")
"""Said once at start on the CPU default (measured: the llama.cpp server refused Mem0's
request with the bundled SmolLM2-135M)."""
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
_Batch = list[MemoryRecord] | _Forget | _End
"""What the embedder takes from the backlog: lines to embed, or what passes between them."""


class MemoryNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("memory", options=options)
        self.params = params = self.declare_parameters(Params)
        folder = Path(params.store_path) if params.store_path else default_store_path()
        self.encoder = MiniLmEncoder(threads=params.encoder_threads)
        chroma = ChromaSettings(path=str(folder / "chroma"), host=params.chroma_host,
                                port=params.chroma_port, collection=params.collection)
        self.bank = MemoryBank(folder, self.encoder, chroma=chroma, rebuild=params.rebuild,
                               facts=self._fact_factory(folder),
                               search_backend=params.search_backend)
        self.log.info("memory store %s: %d memories", folder, self.bank.count())
        self.conversations = Conversations(every=params.summary_turns,
                                           idle_s=params.summary_idle_s)
        self.add_on_set_parameters_callback(self._on_set)
        self.viewers = ViewerDirectory()
        self.stream = ""
        self._backlog: Backlog[_Forget] = Backlog(BACKLOG_LIMIT)
        waiting = self._backlog.add(self.bank.pending)  # received before a stop: embedded first
        if waiting < len(self.bank.pending):
            self.log.warning("%d memories received before the last stop wait in the journal "
                             "for the next start (the backlog holds %d)",
                             len(self.bank.pending) - waiting, BACKLOG_LIMIT)
        self._overflowing = False
        self._embedder: Worker[_Batch] = Worker(self, self._next_batch, self._embed,
                                                name="embedder")
        self._embedded: asyncio.Queue[_Embedded | _Forget | _End] = asyncio.Queue(
            EMBEDDED_AHEAD)
        self._closing = False
        self._ended = False
        """The embedder handed the writer its last item (`_End`)."""
        self._writer: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._facts = WorkQueue(self, self._extract_facts, name="facts", maxlen=BACKLOG_LIMIT)
        """Stored lines waiting for fact extraction (an LLM call each with Mem0); beyond
        BACKLOG_LIMIT the oldest are dropped (counted as ``facts_dropped``)."""

        self.stored_pub = self.create_publisher(MemoryStored, "memory/stored")
        self.say_pub = self.create_publisher(ChatSay, "chat/say")
        self.create_subscription(ConversationTurn, "memory/turn", self.on_turn)
        self.create_subscription(ChatMessage, "chat/message", self.on_chat)
        self.create_service(SearchMemory, "memory/search", self.on_search)
        self.create_service(ForgetViewer, "memory/forget", self.on_forget)
        self.create_timer(SUMMARY_CHECK_S, self.on_summary_timer)

    def _fact_factory(self, folder: Path) -> Any:
        if not self.params.facts:  # '' or 'mem0', as the declaration allows
            self.log.info(NO_FACTS)
            return None
        from nodes.memory.mem0_backend import Mem0Facts, Mem0Settings

        settings = Mem0Settings(folder=str(folder / "mem0"), llm_url=self.params.llm_url,
                                llm_model=self.params.llm_model)
        if settings.llm_url:
            self.log.info("facts: Mem0 extracts them with %s at %s",
                          settings.llm_model or "the served model", settings.llm_url)
        else:
            self.log.info("facts: Mem0 keeps viewers' lines as they are (no llm_url: "
                          "nothing extracts facts from them)")

        def make(client: Any) -> FactMemory:
            return Mem0Facts(settings, self.encoder, client)

        return make

    def _on_set(self, changes: dict[str, Any]) -> None:
        """The summary thresholds apply to the open conversations from their next turn."""
        self.conversations.every = changes.get("summary_turns", self.conversations.every)
        self.conversations.idle_s = changes.get("summary_idle_s", self.conversations.idle_s)

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
        command = parse_forget(msg, self.viewers, self.params.forget_command)
        if command is not None:
            reply = ChatSay(text=command.reply, platform=msg.platform, channel=msg.channel,
                            reply_to=msg.id)
            if not command.viewer:
                self.say_pub.publish(reply)
                return
            # queued now, in order with the lines around it; the reply waits for it
            self.create_task(
                self._say_when_done(self._queue_forget(command.viewer), command.viewer, reply),
                "forget reply")
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
        k = min(query.k, self.params.max_k)
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
        self._embedder.wake()
        if self._syncer is None or self._syncer.done():
            self._syncer = self.create_task(self._sync_received(), "journal sync")

    def _queue_forget(self, viewer: str) -> asyncio.Future[int]:
        """Queue forgetting ``viewer`` after everything received so far; the future gives how
        many memories were removed."""
        self._start_writer()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._backlog.mark(_Forget(viewer, done))
        self._embedder.wake()
        return done

    async def on_start(self) -> None:
        self._start_writer()  # memories received before the last stop wait in the backlog

    def _start_writer(self) -> None:
        """Start the embedder, the writer and the fact extractor, once (also when a test
        drives the node's callbacks without starting it)."""
        if self._writer is None:
            self._writer = self.create_task(self._write_loop(), "writer")
            self._embedder.start()
            if self.bank.facts is not None:
                self._facts.start()

    async def _sync_received(self) -> None:
        """fsync received lines once per interval, however many arrived in it."""
        await asyncio.sleep(RECEIVED_SYNC_S)
        try:
            await asyncio.to_thread(self.bank.sync_received)
        except OSError as exc:
            self.counters["journal_errors"] += 1
            self.log.error("could not fsync the memory journal: %s", exc)

    def _next_batch(self) -> _Batch | None:
        """The embedder's next item: a batch of the backlog, in order, or a forget; at
        shutdown, after the batch in hand, `_End` once (the rest is journaled)."""
        if self._closing:
            if self._ended:
                return None
            self._ended = True
            return _End()
        item = self._backlog.take(EMBED_BATCH)
        if item is None:
            self._overflowing = False  # the backlog is empty: warn again next time
        return item

    async def _embed(self, item: _Batch) -> None:
        """Embeds one batch and hands it to the writer (forgets and the end go as they are).

        A search embeds its query in its own thread meanwhile, so it never waits behind the
        backlog."""
        if isinstance(item, (_Forget, _End)):
            await self._embedded.put(item)
            return
        try:
            embeddings = await asyncio.to_thread(self.bank.embed, item)
        except Exception as exc:  # they stay journaled as received: embedded at next start
            self.counters["embed_errors"] += 1
            self.log.error("could not embed %d memories: %s", len(item), exc)
            return
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
                    self._facts.put(record)
        if summaries:
            self._remember(summaries)

    async def _do_forget(self, op: _Forget) -> None:
        self.conversations.forget(op.viewer)
        kept = [entry for entry in self._facts.items if entry[0].viewer != op.viewer]
        self._facts.items.clear()
        self._facts.items.extend(kept)
        try:
            removed = await asyncio.to_thread(self.bank.forget, op.viewer)
        except Exception as exc:
            self.counters["store_errors"] += 1
            op.done.set_exception(exc)
            return
        self.counters["forgotten_viewers"] += 1
        op.done.set_result(removed)

    async def _extract_facts(self, record: MemoryRecord) -> None:
        """Fact extraction (an LLM call per line with Mem0), off the write path."""
        facts = self.bank.facts
        assert facts is not None
        try:
            await asyncio.to_thread(facts.add, record)
        except Exception as exc:
            self.counters["fact_errors"] += 1
            self.log.warning("fact extraction failed for %s: %s", record.id, exc)

    async def on_shutdown(self) -> None:
        """Finish the batch in hand, then close the journal; lines still waiting are
        journaled as received and embedded first at the next start."""
        self._closing = True
        self._embedder.wake()
        await self._facts.stop()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._writer, SHUTDOWN_FLUSH_S)
            except TimeoutError:
                self.log.error("the memory writer did not finish within %.0f s at shutdown; "
                               "what it held is journaled and replayed at the next start",
                               SHUTDOWN_FLUSH_S)
        await self._embedder.stop()
        if self._backlog:
            self.log.info("stopping with %d memories still to embed: journaled, embedded "
                          "first at the next start", len(self._backlog))
        while (item := self._backlog.take(BACKLOG_LIMIT)) is not None:
            if isinstance(item, _Forget):  # never journaled: the viewer can ask again
                item.done.set_exception(RuntimeError("the memory node is stopping"))
        self.bank.close()
