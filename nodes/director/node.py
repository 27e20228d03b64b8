"""The director node: wires chat, ears, the LLM, voice and memory to the turn-taking rules.

Topics in: ``chat/message``, ``speech/vad``, ``speech/final``, ``llm/sentence``, ``llm/done``,
``tts/audio``, ``audio/playhead``. Topics out: ``director/turn`` and ``persona/active``
(latched), ``llm/request``, ``llm/cancel``, ``audio/control``, ``memory/turn``.
Services used: ``chat/next``, ``memory/search``. The rules live in `nodes.director.floor`,
what counts as said in `nodes.director.history`, how every turn ends in
`nodes.director.deadlines`, who voices the show in `nodes.director.roster` (read from the
registry every ``watch_s``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import NamedTuple

from bus.errors import ServiceError
from bus.node import Node, NodeOptions, Trace
from messages.audio import AudioChunk, Playhead, SpeakerControl
from messages.chat import ChatMessage, ChatNext, ChatNextRequest
from messages.director import Persona, Turn
from messages.llm import Cancel, ChatTurn, LlmDone, LlmRequest, Sentence
from messages.memory import ConversationTurn, MemoryQuery, SearchMemory
from messages.speech import Transcript, VadEvent
from nodes.director.cast import load_cast
from nodes.director.deadlines import Action, Limits, TurnClock, Verdict
from nodes.director.floor import Floor, Plan, addressed_to, chat_priority
from nodes.director.history import Conversation, Line, SpokenSentence, audible_text
from nodes.director.roster import Change, Role, Roster, Seen

__all__ = ["Director"]

DEFERRED_MAX = 5
"""Chat answers kept for after the human (older ones go: the chat node holds the rest)."""


class Deferred(NamedTuple):
    """A chat answer that lost the floor before it was asked for."""

    plan: Plan
    viewer: str
    trace: Trace | None
    line: Line | None
    """The chat line, put into the conversation when it is answered (None: it is there
    already, the turn is asked again)."""


@dataclass
class ActiveTurn:
    """A persona's turn from request to the last audible sample."""

    plan: Plan
    request_id: str
    viewer: str
    clock: TurnClock
    sentences: dict[int, SpokenSentence] = field(default_factory=dict)
    request: LlmRequest | None = None
    """As sent, to ask again an LLM that lost it."""
    trace: Trace | None = None
    cut_off: bool = False

    def sentence(self, index: int) -> SpokenSentence:
        return self.sentences.setdefault(index, SpokenSentence(index))

    def _spoken(self) -> list[SpokenSentence]:
        return [s for s in self.sentences.values() if s.text.strip()]

    def heard_to_the_end(self) -> bool:
        return self.clock.done_at is not None and all(s.finished for s in self._spoken())

    def audio_complete(self) -> bool:
        """Every sentence said so far has all its audio (the TTS's part is over for them)."""
        return all(s.complete for s in self._spoken())


class Director(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("director", options=options)
        cast = load_cast(self.declare_parameter("personas_file", "", "persona TOML file"))
        self.floor = Floor(
            cast,
            banter_turns=self.declare_parameter("banter_turns", 2, "persona replies in a row"),
            quiet_s=self.declare_parameter("quiet_s", 20.0, "silence before a new topic"),
            words_wait_s=self.declare_parameter(
                "words_wait_s", 2.0, "after the human stops, how long to wait for their words"),
        )
        self.floor.last_activity = time.monotonic()
        self.cast = {member.name: member for member in cast}
        self.human_name = self.declare_parameter("human_name", "Collaborator",
                                                 "how the personas call the human")
        self.stream = self.declare_parameter("stream", "", "stream id for memories")
        self.memory_k = self.declare_parameter("memory_k", 4, "memories per request")
        self.memory_chars = self.declare_parameter("memory_chars", 240,
                                                   "a longer memory is shortened to this")
        self.memory_timeout_s = self.declare_parameter("memory_timeout_s", 0.3,
                                                       "give up on memory after this")
        self.limits = Limits(
            first_sentence_s=self.declare_parameter(
                "first_sentence_timeout_s", 60.0, "a request with no first sentence for this "
                "long is cancelled (a hung or lost LLM)"),
            stall_s=self.declare_parameter(
                "reply_stall_s", 30.0, "a reply with no sentence and no llm/done for this "
                "long is cancelled"),
            audio_s=self.declare_parameter(
                "audio_timeout_s", 10.0, "a complete reply with no audio or playhead for this "
                "long is closed (no speaker running)"),
            rejoin_wait_s=self.declare_parameter(
                "rejoin_wait_s", 30.0, "how long the floor waits for an llm, tts or speaker "
                "that left the bus (and a lost request for an llm) before going on without"),
        )
        self.roster = Roster(
            {Role.LLM: self.resolve_name("llm/done"), Role.TTS: self.resolve_name("tts/audio"),
             Role.SPEAKER: self.resolve_name("audio/playhead")},
            rejoin_wait_s=self.limits.rejoin_wait_s)
        self.prefill = self.declare_parameter(
            "prefill", True, "while a reply plays, have the LLM compute the next speaker's "
            "prompt with it")
        self.cut_grace_s = self.declare_parameter(
            "cut_grace_s", 0.3, "after a cut, wait this long for the speaker's last playhead")

        self.turn_pub = self.create_publisher(Turn, "director/turn")
        self.persona_pub = self.create_publisher(Persona, "persona/active")
        self.request_pub = self.create_publisher(LlmRequest, "llm/request")
        self.cancel_pub = self.create_publisher(Cancel, "llm/cancel")
        self.speaker_pub = self.create_publisher(SpeakerControl, "audio/control")
        self.memory_pub = self.create_publisher(ConversationTurn, "memory/turn")
        self.chat_next = self.create_client(ChatNext, "chat/next")
        self.memory = self.create_client(SearchMemory, "memory/search")

        self.create_subscription(ChatMessage, "chat/message", self.on_chat)
        self.create_subscription(VadEvent, "speech/vad", self.on_vad)
        self.create_subscription(Transcript, "speech/final", self.on_final)
        self.create_subscription(Sentence, "llm/sentence", self.on_sentence)
        self.create_subscription(LlmDone, "llm/done", self.on_done)
        self.create_subscription(AudioChunk, "tts/audio", self.on_audio)
        self.create_subscription(Playhead, "audio/playhead", self.on_playhead)
        self.create_timer(self.declare_parameter("tick_s", 0.25, "decision period"), self.tick)
        self.create_timer(self.declare_parameter(
            "watch_s", 0.5, "how often the registry is read for the llm, tts and speaker "
            "leaving or restarting"), self.watch)

        self.conversation = Conversation(
            limit=self.declare_parameter("history_lines", 40, "conversation lines kept"),
            max_chars=self.declare_parameter("history_chars", 6000,
                                             "conversation characters kept"))
        self.current: ActiveTurn | None = None
        self.closing: dict[str, ActiveTurn] = {}
        """Cut turns waiting for the speaker's last word on what was heard."""
        self.human_lines: deque[tuple[Transcript, Trace | None]] = deque()
        self.chat_waiting = False
        self.chat_fallback: deque[ChatMessage] = deque(maxlen=50)
        """Chat seen on the bus, used only when no chat node serves chat/next."""
        self.chat_traces: OrderedDict[str, Trace] = OrderedDict()
        self.deferred: deque[Deferred] = deque(maxlen=DEFERRED_MAX)
        """Chat answers taken from the chat node that lost the floor before a word was asked
        for (the human started talking): answered after the human, before newer chat."""
        self.active_persona = ""
        self._deciding = False
        self._again = False

    # ------------------------------------------------------------ inputs

    def on_chat(self, msg: ChatMessage) -> None:
        if msg.id:
            trace = self.current_trace()
            if trace is not None:
                self.chat_traces[msg.id] = trace
                while len(self.chat_traces) > 500:
                    self.chat_traces.popitem(last=False)
        self.chat_fallback.append(msg)
        self.chat_waiting = True
        named = msg.persona in self.cast or addressed_to(msg.text, list(self.cast.values()))
        if self.floor.should_interrupt(chat_priority(msg.kind, bool(named))):
            self.interrupt(f"{msg.kind} from {msg.user}")
        self.consider()

    def on_vad(self, event: VadEvent) -> None:
        if event.event == "start":
            if self.floor.human_started(time.monotonic()) is not None:
                self.interrupt("the human started talking")
        else:  # the floor stays theirs until their words arrive (or the wait is over)
            self.floor.human_stopped(time.monotonic())

    def on_final(self, transcript: Transcript) -> None:
        if transcript.text.strip():
            self.human_lines.append((transcript, self.current_trace()))
        self.floor.human_heard(time.monotonic())
        self.consider()

    def _turn_for(self, request_id: str) -> ActiveTurn | None:
        if self.current is not None and self.current.request_id == request_id:
            return self.current
        return self.closing.get(request_id)

    def on_sentence(self, sentence: Sentence) -> None:
        turn = self._turn_for(sentence.request_id)
        if turn is not None:
            turn.sentence(sentence.index).text = sentence.text
            turn.clock.sentence(time.monotonic())

    def on_done(self, done: LlmDone) -> None:
        turn = self._turn_for(done.request_id)
        if turn is None:
            return
        if done.error:
            self.log.warning("the reply to %s failed: %s", turn.plan.why, done.error)
        turn.clock.done(time.monotonic())
        if self.prefill and turn is self.current and done.text and not (
                done.error or done.cut_off):
            self.prefill_others(turn, done.text)
        self.check_turn()

    def prefill_others(self, turn: ActiveTurn, text: str) -> None:
        """While this reply plays, have the LLM compute the conversation as the other
        personas will see it, this reply included: whoever speaks next then finds most of
        their prompt computed (on a CPU that is most of the wait for a first sentence)."""
        persona = turn.plan.persona
        ahead = self.conversation.then(Line(self.cast[persona].speaker, " ".join(text.split()),
                                            persona=persona, source=turn.request_id))
        for other in self.cast:
            if other != persona:
                self.request_pub.publish(LlmRequest(
                    request_id=f"prefill-{uuid.uuid4().hex[:8]}", persona=other,
                    messages=ahead.as_seen_by(other), prefill=True))

    def on_audio(self, chunk: AudioChunk) -> None:
        turn = self._turn_for(chunk.request_id)
        if turn is None:
            return
        turn.clock.audio(time.monotonic())
        sentence = turn.sentence(chunk.sentence_index)
        sentence.samples += len(chunk.pcm) // (2 * max(1, chunk.channels))
        sentence.complete = sentence.complete or chunk.last
        if chunk.text and not sentence.text:
            sentence.text = chunk.text

    def on_playhead(self, playhead: Playhead) -> None:
        turn = self._turn_for(playhead.request_id)
        if turn is None:
            return
        turn.clock.audio(time.monotonic())
        sentence = turn.sentence(playhead.sentence_index)
        sentence.heard = max(sentence.heard, playhead.sample)
        if playhead.state == "finished":
            sentence.finished = True
        self.check_turn()

    # ------------------------------------------------------------ turns

    def tick(self) -> None:
        self.check_turn()
        self.consider()

    async def watch(self) -> None:
        """Read the registry: an llm, tts or speaker that left or restarted loses the turn
        it held; the floor waits for one that left (a turn started now would be lost too)."""
        try:
            graph = await self.graph(timeout=1.0)
        except TimeoutError:
            return  # vtbus is restarting: its epoch tells the roster when it is back
        seen = [Seen(s.info.name, s.info.pid, s.info.started_ns,
                     frozenset(e.name for e in s.info.publishers))
                for s in graph.nodes if not s.info.hidden and s.info.name != self.name]
        now = time.monotonic()
        for change in self.roster.update(seen, graph.epoch, now):
            self.on_roster_change(change, now)
        self.check_turn()
        self.consider()

    def on_roster_change(self, change: Change, now: float) -> None:
        if change.what == "back":
            self.log.info("%s is back on the bus", change.node)
        elif change.what == "gone":
            self.log.warning("%s did not come back within %g s: the show goes on without it",
                             change.node, self.limits.rejoin_wait_s)
        else:
            self.log.warning("%s%s", change, ": the floor waits for it" if change.what == "left"
                             else "")
        turn = self.current
        if turn is not None:
            self.act(turn, turn.clock.lost(change, now, audio_complete=turn.audio_complete()))

    def llm_listens(self) -> bool:
        """Whether a request published now reaches an LLM."""
        return self.request_pub.has_subscribers() and (
            self.roster.present(Role.LLM) or not self.roster.known(Role.LLM))

    def check_turn(self) -> None:
        """End the turn heard to the end; else do what its deadlines say."""
        turn = self.current
        if turn is None:
            return
        if turn.heard_to_the_end():
            self.current = None
            self.remember(turn)
            return
        now = time.monotonic()
        verdict = None
        if turn.clock.waiting_for_llm() and self.llm_listens():
            verdict = turn.clock.llm_ready(now, why="an llm listens again")
        self.act(turn, verdict or turn.clock.due(now))

    def act(self, turn: ActiveTurn, verdict: Verdict | None) -> None:
        if verdict is None or turn is not self.current:
            return
        persona = turn.plan.persona
        if verdict.action is Action.RESEND and turn.request is not None:
            self.counters["requests_resent"] += 1
            self.log.warning("asking again for %s's reply: %s", persona, verdict.reason)
            with self.traced(turn.trace):
                self.request_pub.publish(turn.request)
        elif verdict.action is Action.CLOSE:
            self.log.warning("%s's reply closed: %s", persona, verdict.reason)
            self.current = None
            self.remember(turn)
        elif verdict.action is Action.CUT:
            self.counters["turns_cut"] += 1
            self.log.warning("%s's turn cancelled: %s", persona, verdict.reason)
            self.cut(verdict.reason)
        elif verdict.action is Action.REASK:
            self.counters["requests_resent"] += 1
            self.log.warning("%s's turn cancelled and asked again: %s", persona, verdict.reason)
            self.cut(verdict.reason)
            self.deferred.appendleft(Deferred(turn.plan, turn.viewer, turn.trace, None))

    def interrupt(self, reason: str) -> None:
        """Stop the persona now: the LLM, the TTS and the speaker; remember what was heard."""
        if self.current is not None:
            self.log.info("interrupting %s: %s", self.current.plan.persona, reason)
        self.cut(reason)

    def cut(self, reason: str) -> None:
        """Cancel the turn in progress everywhere (LLM, TTS, speaker); the floor is free at
        once, and what was heard of it is remembered once the speaker's last playhead had time
        to come."""
        turn, self.current = self.current, None
        if turn is None:
            return
        self.floor.finished(turn.request_id, time.monotonic())
        turn.cut_off = True
        self.cancel(turn, reason)
        self.closing[turn.request_id] = turn
        asyncio.get_running_loop().call_later(self.cut_grace_s, self._close, turn.request_id)

    def cancel(self, turn: ActiveTurn, reason: str) -> None:
        """Tell the LLM, the TTS and the speaker to drop what is left of ``turn``."""
        self.cancel_pub.publish(Cancel(request_id=turn.request_id, reason=reason))
        self.speaker_pub.publish(SpeakerControl(action="stop", request_id=turn.request_id,
                                                reason=reason))

    def _close(self, request_id: str) -> None:
        turn = self.closing.pop(request_id, None)
        if turn is not None:
            self.remember(turn)

    def remember(self, turn: ActiveTurn) -> None:
        """Store what was audible (never the unspoken rest, never an empty turn). A turn that
        ends with nothing heard, and was not cut, is cancelled: every turn that starts ends
        on the bus, remembered or cancelled (and late audio of it is never played)."""
        persona = turn.plan.persona
        self.floor.finished(turn.request_id, time.monotonic())
        text = audible_text(list(turn.sentences.values()))
        if not text and not turn.cut_off:
            self.log.warning("%s's turn ended with nothing heard", persona)
            self.cancel(turn, "nothing was heard of it")
        if text:
            speaker = self.cast[persona].speaker
            # the streamer's terminal shows the conversation as it was heard
            self.log.info("%s%s: %s", speaker, " (cut off)" if turn.cut_off else "", text)
            self.conversation.add(Line(speaker, text, persona=persona, cut_off=turn.cut_off,
                                       source=turn.request_id))
            self.memory_pub.publish(ConversationTurn(
                turn_id=turn.request_id, speaker=speaker, text=text, persona=persona,
                viewer=turn.viewer, stream=self.stream, cut_off=turn.cut_off,
                stamp_ns=time.time_ns(),
            ))
        self.consider()

    def floor_free(self) -> bool:
        """Whether a persona may start: the floor's rules, and nobody the show needs is away
        (an llm, tts or speaker that left the bus: its restart is awaited)."""
        return (self.current is None and self.floor.free(time.monotonic())
                and not self.roster.away())

    def consider(self) -> None:
        """Decide the next turn if the floor is free (one decision at a time; an event that
        arrives during a decision is considered again right after it, never lost)."""
        if self._deciding:
            self._again = True
        elif self.floor_free() and self._loop is not None:
            self._deciding = True
            self._loop.create_task(self._decide()).add_done_callback(self._decided)

    def _decided(self, _: object) -> None:
        self._deciding = False
        if self._again:
            self._again = False
            self.consider()

    async def _decide(self) -> None:
        plan: Plan | None = None
        viewer = ""
        trace: Trace | None = None
        chat_line: Line | None = None
        keep = False  # a chat answer, or a turn asked again: kept if the floor is lost
        if self.human_lines:
            transcript, trace = self.human_lines.popleft()
            plan = self.floor.answer_human(transcript.text, transcript.utterance_id)
            self.conversation.add(Line(self.human_name, transcript.text,
                                       source=transcript.utterance_id))
            self.memory_pub.publish(ConversationTurn(
                turn_id=transcript.utterance_id, speaker=self.human_name, text=transcript.text,
                stream=self.stream, stamp_ns=time.time_ns()))
        elif self.deferred:
            plan, viewer, trace, chat_line = self.deferred.popleft()
            keep = True
        elif self.chat_waiting:
            self.chat_waiting = False  # set again by any chat arriving while we ask
            msg = await self.next_chat()
            if msg is not None:
                self.chat_waiting = True  # there may be more
                plan = self.floor.answer_chat(msg.text, msg.kind, msg.id, msg.persona)
                viewer = f"{msg.platform}:{msg.user_id or msg.user}"
                trace = self.chat_traces.get(msg.id)
                chat_line = Line(msg.user, msg.text, source=f"chat:{msg.platform}:{msg.id}")
                keep = True
        if plan is None:
            last = self.conversation.last_line()
            plan = self.floor.banter_or_topic(
                time.monotonic(), last.text if last is not None and last.persona else "")
        if plan is None:
            return
        asked = False
        if self.floor_free():
            if chat_line is not None:
                self.conversation.add(chat_line)
                chat_line = None  # in the conversation now: not added again if deferred
            with self.traced(trace):
                asked = await self.give_floor(plan, viewer)
        if not asked and keep:  # the human spoke up before a word was asked
            self.counters["chat_deferred"] += 1
            self.deferred.appendleft(Deferred(plan, viewer, trace, chat_line))

    async def next_chat(self) -> ChatMessage | None:
        """The chat node's best message; without a chat node, the oldest one seen."""
        try:
            reply = await self.chat_next.call(ChatNextRequest(), timeout=0.5, retries=0)
        except ServiceError:
            if "chat_next_unavailable" not in self.counters:
                self.log.warning("no chat node answers chat/next: taking chat in arrival order")
            self.counters["chat_next_unavailable"] += 1
            return self.chat_fallback.popleft() if self.chat_fallback else None
        if reply.message is not None:
            chosen = reply.message.id
            self.chat_fallback = deque((m for m in self.chat_fallback if m.id != chosen),
                                       maxlen=50)
        else:
            self.chat_fallback.clear()
        return reply.message

    async def give_floor(self, plan: Plan, viewer: str) -> bool:
        """Give ``plan.persona`` the floor and ask the LLM for its words; False if the turn
        was interrupted before the request went out."""
        request_id = uuid.uuid4().hex[:12]
        member = self.cast[plan.persona]
        self.floor.started(plan, request_id, time.monotonic())
        turn = ActiveTurn(plan, request_id, viewer, TurnClock(self.limits),
                          trace=self.current_trace())
        self.current = turn
        self.turn_pub.publish(Turn(speaker=plan.persona, why=plan.why, request_id=request_id,
                                   reply_to=plan.reply_to))
        if plan.persona != self.active_persona:
            self.active_persona = plan.persona
            self.persona_pub.publish(Persona(name=plan.persona, avatar=member.avatar,
                                             voice=member.voice))
        memories = await self.recall(plan, viewer)
        if self.current is not turn:
            return False  # interrupted while remembering
        messages = self.conversation.as_seen_by(plan.persona)
        if plan.why == "topic":
            messages.append(ChatTurn(role="user", content=f"(Chat is quiet. Bring up "
                                     f"{plan.prompt}, in your own words.)"))
        turn.request = LlmRequest(request_id=request_id, persona=plan.persona,
                                  messages=messages, memories=memories)
        # nobody subscribed (the llm is down): the request is lost, asked again when one is up
        turn.clock.asked(time.monotonic(), listened=self.llm_listens())
        self.request_pub.publish(turn.request)
        # the terminal's line comes after the request: writing it is not on the reply's path
        self.log.info("%s has the floor (%s)%s", member.speaker, plan.why,
                      f", answering: {plan.prompt}" if plan.prompt and plan.why != "banter"
                      else "")
        return True

    async def recall(self, plan: Plan, viewer: str) -> list[str]:
        """Memories for this reply: the viewer's, the persona's and the show's."""
        if not plan.prompt:
            return []
        query = MemoryQuery(query=plan.prompt, persona=plan.persona, viewer=viewer,
                            k=self.memory_k)
        try:
            found = await self.memory.call(query, timeout=self.memory_timeout_s, retries=0)
        except ServiceError:
            self.counters["memory_unavailable"] += 1
            return []
        # what the conversation already holds is in the prompt anyway; a turn and the summary
        # that holds it can both match: each text once, best first, none very long
        present = self.conversation.sources()
        texts = (_shorten(hit.text, self.memory_chars) for hit in found.hits
                 if hit.source_turn not in present)
        return list(dict.fromkeys(texts))



def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to at most ``limit`` characters (prompt time is the slowest hop)."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
