"""The director node: wires chat, ears, the LLM, voice and memory to the turn-taking rules.

Topics in: ``chat/message``, ``speech/vad``, ``speech/final``, ``llm/sentence``, ``llm/done``,
``llm/tool_call``, ``tts/audio``, ``audio/playhead``, ``game/state`` (latched), ``game/event``,
``game/frame``, ``director/turn`` (latched: a turn from before this director started says the
show is under way: no greeting).
Topics out: ``director/turn`` and ``persona/active`` (latched), ``llm/request``,
``llm/cancel``, ``audio/control``, ``memory/turn``.
Services used: ``chat/next``, ``memory/search``. The turn state machine is
`nodes.director.turns` (this node feeds it events and publishes what it answers); the rules
of the floor live in `nodes.director.floor`, what counts as said in `nodes.director.history`,
how every turn ends in `nodes.director.deadlines`, who voices the show in
`nodes.director.roster` (read from the registry every ``watch_s``), a game's moves and what is
said about it in `nodes.director.games`, what the watched screen shows and the comments on
it in `nodes.director.watching`, the show's greeting in `nodes.director.greeting`, who is
talking in the room in `nodes.director.voices`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from bus.errors import PcmError, ServiceError
from bus.node import Node, NodeOptions
from messages.audio import AudioChunk, Playhead, SpeakerControl
from messages.chat import ChatMessage, ChatNext, ChatNextRequest
from messages.director import Persona, Turn
from messages.game import GameEvent, GameFrame, GameState
from messages.llm import Cancel, LlmDone, LlmRequest, Sentence, ToolCall
from messages.memory import ConversationTurn, MemoryHit, MemoryQuery, SearchMemory
from messages.pcm import frame_count
from messages.speech import Transcript, VadEvent
from nodes.director.cast import load_cast
from nodes.director.deadlines import Limits
from nodes.director.decisions import (
    ActiveTurn,
    Announce,
    Ask,
    Count,
    Log,
    Out,
    Remember,
    Stop,
    WakeIn,
    Wanted,
)
from nodes.director.floor import Floor
from nodes.director.games import GameTable
from nodes.director.greeting import Greeting
from nodes.director.history import Conversation
from nodes.director.params import Params
from nodes.director.roster import Role, Roster, Seen
from nodes.director.turns import Turns
from nodes.director.voices import Voices
from nodes.director.watching import ScreenWatch

__all__ = ["Director"]


def _limits(params: Params) -> Limits:
    return Limits(first_sentence_s=params.first_sentence_timeout_s,
                  stall_s=params.reply_stall_s, audio_s=params.audio_timeout_s,
                  rejoin_wait_s=params.rejoin_wait_s)


def _game_rules(games: GameTable, params: Params) -> None:
    games.moves, games.comments = params.game_moves, params.game_comments
    games.max_comments, games.comment_max_s = params.game_comments_kept, params.game_comment_max_s
    games.chat_between = params.chat_between_game_turns
    games.claim_s = params.game_claim_s


def _watch_rules(screen: ScreenWatch, params: Params) -> None:
    screen.comments, screen.comment_s = params.watch_comments, params.watch_comment_s
    screen.quiet_s, screen.max_wait_s = params.watch_quiet_s, params.watch_max_wait_s
    screen.images = params.watch_images


class Director(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("director", options=options)
        self.params = params = self.declare_parameters(Params)
        floor = Floor(load_cast(params.personas_file), banter_turns=params.banter_turns,
                      quiet_s=params.quiet_s, words_wait_s=params.words_wait_s)
        floor.last_activity = started_at = time.monotonic()
        limits = _limits(params)
        roster = Roster(
            {Role.LLM: self.resolve_name("llm/done"), Role.TTS: self.resolve_name("tts/audio"),
             Role.SPEAKER: self.resolve_name("audio/playhead")},
            rejoin_wait_s=limits.rejoin_wait_s)

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
        self.create_subscription(ToolCall, "llm/tool_call", self.on_tool_call)
        self.create_subscription(GameState, "game/state", self.on_game_state)
        self.create_subscription(GameEvent, "game/event", self.on_game_event)
        self.create_subscription(GameFrame, "game/frame", self.on_frame)
        self.create_subscription(Turn, "director/turn", self.on_turn)
        self.tick_timer = self.create_timer(params.tick_s, self.tick)
        self.watch_timer = self.create_timer(params.watch_s, self.watch)

        conversation = Conversation(limit=params.history_lines, max_chars=params.history_chars)
        games = GameTable([member.name for member in floor.cast])
        _game_rules(games, params)
        screen = ScreenWatch([member.name for member in floor.cast])
        _watch_rules(screen, params)
        self.turns = Turns(floor, roster, limits=limits, conversation=conversation, games=games,
                           screen=screen,
                           greeting=Greeting(enabled=params.greeting, started_at=started_at),
                           voices=Voices(params.human_name,
                                         room_takes_floor=params.room_takes_floor),
                           stream=params.stream,
                           memory_chars=params.memory_chars, prefill=params.prefill,
                           cut_grace_s=params.cut_grace_s,
                           llm_subscribed=self.request_pub.has_subscribers)
        self.add_on_set_parameters_callback(self.apply_parameters)
        self._deciding = False
        self._again = False
        self._started = False
        """Decisions wait for the node to be on its loop (on_start)."""

    async def on_start(self) -> None:
        self._started = True
        self.consider()

    def apply_parameters(self, changes: dict[str, Any]) -> None:
        """Hand values set at run time to the rules that hold copies of them (the rest are
        read where they are used); a turn under way keeps the deadlines it started with."""
        params = msgspec.structs.replace(self.params, **changes)
        turns = self.turns
        turns.floor.banter_turns = params.banter_turns
        turns.floor.quiet_s = params.quiet_s
        turns.floor.words_wait_s = params.words_wait_s
        turns.conversation.limit = params.history_lines
        turns.conversation.max_chars = params.history_chars
        turns.voices.human_name, turns.stream = params.human_name, params.stream
        turns.voices.room_takes_floor = params.room_takes_floor
        turns.greeting.switch(params.greeting)
        turns.memory_chars, turns.prefill = params.memory_chars, params.prefill
        turns.cut_grace_s = params.cut_grace_s
        turns.limits = _limits(params)
        turns.roster.rejoin_wait_s = params.rejoin_wait_s
        _game_rules(turns.games, params)
        _watch_rules(turns.screen, params)
        if "tick_s" in changes:
            self.tick_timer.set_period(params.tick_s)
        if "watch_s" in changes:
            self.watch_timer.set_period(params.watch_s)

    # ------------------------------------------------------------ inputs

    def on_chat(self, msg: ChatMessage) -> None:
        self.apply(self.turns.chat(msg, self.current_trace(), time.monotonic()))
        self.consider()

    def on_vad(self, event: VadEvent) -> None:
        if event.event == "start":
            self.apply(self.turns.human_started(time.monotonic()))
        else:
            self.turns.human_stopped(time.monotonic())

    def on_final(self, transcript: Transcript) -> None:
        self.apply(self.turns.human_said(transcript, self.current_trace(), time.monotonic()))
        self.consider()

    def on_turn(self, turn: Turn) -> None:
        """Before this director's first turn, a turn on the bus is its predecessor's, latched:
        the show is under way (a restart mid-show), so it is not greeted again."""
        greeting = self.turns.greeting
        if turn.request_id not in greeting.asked and greeting.show_under_way(
                f"{turn.speaker} had the floor before this director started"):
            self.log.info("the show is under way (%s had the floor): no greeting", turn.speaker)

    def on_sentence(self, sentence: Sentence) -> None:
        self.turns.sentence(sentence, time.monotonic())

    def on_done(self, done: LlmDone) -> None:
        self.apply(self.turns.done(done, time.monotonic()))
        self.consider()

    def on_tool_call(self, call: ToolCall) -> None:
        self.turns.tool_call(call)

    def on_game_state(self, state: GameState) -> None:
        self.apply(self.turns.game_state(state))
        self.consider()

    def on_game_event(self, event: GameEvent) -> None:
        self.apply(self.turns.game_event(event, time.monotonic()))
        self.consider()

    def on_frame(self, frame: GameFrame) -> None:
        """Every captured frame: the screen now; only a new scene may start a turn."""
        self.apply(self.turns.frame(frame, time.monotonic()))
        if frame.changed:
            self.consider()

    def on_audio(self, chunk: AudioChunk) -> None:
        if self.turns.turn_for(chunk.request_id) is None:
            return
        try:
            frames = frame_count(chunk.pcm, chunk.format, chunk.channels)
        except PcmError as exc:
            self.report_bad_input(chunk.persona, "tts/audio", str(exc))
            return
        self.turns.audio(chunk, frames, time.monotonic())

    def on_playhead(self, playhead: Playhead) -> None:
        self.apply(self.turns.playhead(playhead, time.monotonic()))
        self.consider()

    def tick(self) -> None:
        self.apply(self.turns.tick(time.monotonic()))
        self.consider()

    async def watch(self) -> None:
        """Hand the registry to the turns: an llm, tts or speaker that left or restarted."""
        try:
            graph = await self.graph(timeout=1.0)
        except TimeoutError:
            return  # vtbus is restarting: its epoch tells the roster when it is back
        seen = [Seen(s.info.name, s.info.pid, s.info.started_ns,
                     frozenset(e.name for e in s.info.publishers), s.info.loading)
                for s in graph.nodes if not s.info.hidden and s.info.name != self.name]
        # the node that writes transcripts says whether it enrolled a voice (its enrol_wav)
        finals = self.resolve_name("speech/final")
        voices = self.turns.voices
        enrolled = any(bool(s.info.parameters.get("enrol_wav")) for s in graph.nodes
                       if any(e.name == finals for e in s.info.publishers))
        if enrolled != voices.enrolled_on_bus:
            voices.enrolled_on_bus = enrolled
            self.counters["voice_enrolled"] = int(enrolled)  # vtnode info shows it
            self.log.info("%s", f"a voice is enrolled: {voices.human_name} is told apart from "
                          "anyone else in the room" if enrolled else "no voice is enrolled "
                          "any more: every voice is the collaborator's")
        self.apply(self.turns.registry(seen, graph.epoch, time.monotonic()))
        self.consider()

    # ------------------------------------------------------------ outputs

    def apply(self, outs: Iterable[Out]) -> None:
        """Publish what the turns decided."""
        for out in outs:
            match out:
                case Announce(turn, persona, trace):
                    with self.traced(trace):
                        self.turn_pub.publish(turn)
                        if persona is not None:
                            self.persona_pub.publish(persona)
                case Ask(request, trace):
                    with self.traced(trace):
                        self.request_pub.publish(request)
                case Stop(request_id, reason):
                    self.cancel_pub.publish(Cancel(request_id=request_id, reason=reason))
                    self.speaker_pub.publish(SpeakerControl(action="stop", request_id=request_id,
                                                            reason=reason))
                case Remember(line):
                    self.memory_pub.publish(line)
                case Log(text, level):
                    self.log.log(level, "%s", text)
                case Count(counter):
                    self.counters[counter] += 1
                case WakeIn(seconds):
                    asyncio.get_running_loop().call_later(seconds, self.tick)

    # ------------------------------------------------------------ the next turn

    def consider(self) -> None:
        """Decide the next turn if the floor is free (one decision at a time; an event that
        arrives during a decision is considered again right after it, never lost)."""
        if self._deciding:
            self._again = True
        elif self.turns.free(time.monotonic()) and self._started:
            self._deciding = True
            self.create_task(self._decide(), "decide").add_done_callback(self._decided)

    def _decided(self, _: object) -> None:
        self._deciding = False
        if self._again:
            self._again = False
            self.consider()

    async def _decide(self) -> None:
        pick = self.turns.pick(time.monotonic())
        if pick is Wanted.CHAT:
            pick = self.turns.chat_chosen(await self.next_chat(), time.monotonic())
        if pick is None:
            return
        turn, outs = self.turns.begin(pick, time.monotonic())
        self.apply(outs)
        if turn is not None:
            with self.traced(turn.trace):
                hits = await self.recall(turn)
                self.apply(self.turns.ask(turn, hits, time.monotonic()))

    async def next_chat(self) -> ChatMessage | None:
        """The chat node's best message; without a chat node, the oldest one seen."""
        try:
            reply = await self.chat_next.call(ChatNextRequest(), timeout=0.5, retries=0)
        except ServiceError:
            if "chat_next_unavailable" not in self.counters:
                self.log.warning("no chat node answers chat/next: taking chat in arrival order")
            self.counters["chat_next_unavailable"] += 1
            return self.turns.oldest_chat()
        return reply.message

    async def recall(self, turn: ActiveTurn) -> list[MemoryHit]:
        """Memories for this reply: the viewer's, the persona's and the show's."""
        plan = turn.plan
        if not plan.prompt:
            return []
        query = MemoryQuery(query=plan.prompt, persona=plan.persona, viewer=turn.viewer,
                            k=self.params.memory_k)
        try:
            found = await self.memory.call(query, timeout=self.params.memory_timeout_s, retries=0)
        except ServiceError:
            self.counters["memory_unavailable"] += 1
            return []
        return found.hits
