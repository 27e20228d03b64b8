"""The director's turn state machine, as pure logic: events and ``now`` in, decisions out.

`Turns` holds the turn in progress, the cut turns still being heard, and what waits for the
floor. The node feeds it the bus's events with ``now`` and publishes what it answers: a list
of `nodes.director.decisions.Out` (data: announce a turn, ask the LLM, stop a request,
remember a turn, log, count, wake me later), never calls to the bus.

Who speaks next, in order: the human's words (or someone else's in the room, when they may
take the floor: `nodes.director.voices`); a chat answer or a game turn that lost the floor
to the human before it was asked (deferred); the show's greeting, once, when the voice is up
(`nodes.director.greeting`); a game's turn, a line about it or a persona's
move (`nodes.director.games`; while chat waits, ``chat_between`` chat replies may go first);
the chat node's best line; a comment on a new scene on the screen (watch mode,
`nodes.director.watching`); banter (after a comment: the other persona's answer to it) or a
topic (`nodes.director.floor`). A decision takes
three calls around the node's service calls: `Turns.pick` (then `Turns.chat_chosen` with the
answer of ``chat/next`` when it wants chat), `Turns.begin`, and, once memories are in,
`Turns.ask`.

Every turn that starts ends, by its request id, never by its persona: heard to the end, or
closed by its deadlines (`nodes.director.deadlines`), it is remembered; cut (the human, a
paid or named line over banter, a lost LLM, TTS or speaker), it is cancelled and the floor
is free at once, and what was heard of it is remembered ``cut_grace_s`` later, once the
speaker's last playhead had time to come. By then the same persona may be speaking again:
that close touches only the cut turn. A turn that ends with nothing heard is cancelled too.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from messages.audio import AudioChunk, Playhead
from messages.chat import ChatMessage
from messages.director import Persona, Turn
from messages.game import GameEvent, GameFrame, GameState
from messages.llm import ChatTurn, LlmDone, LlmRequest, Sentence, ToolCall
from messages.memory import ConversationTurn, MemoryHit
from messages.speech import Transcript
from nodes.director.deadlines import Action, Limits, TurnClock, Verdict
from nodes.director.decisions import (
    ActiveTurn,
    Announce,
    Ask,
    Candidate,
    CommentAsk,
    Count,
    Log,
    MoveAsk,
    Out,
    Remember,
    SceneAsk,
    Stop,
    WakeIn,
    Wanted,
)
from nodes.director.floor import Floor, addressed_to, chat_priority
from nodes.director.games import GameTable, comment_prompt, move_request
from nodes.director.greeting import Greeting
from nodes.director.history import Conversation, Line, audible_text, shorten
from nodes.director.roster import Change, Role, Roster, Seen
from nodes.director.voices import Voices
from nodes.director.watching import SCREEN_FRESH_S, ScreenWatch, scene_prompt, screen_note

if TYPE_CHECKING:
    from bus.node import Trace

__all__ = ["Turns"]

DEFERRED_MAX = 5
"""Chat answers kept for after the human (older ones go: the chat node holds the rest)."""
CHAT_SEEN_MAX = 50
"""Chat lines kept for when no chat node serves ``chat/next``."""
CHAT_TRACES_MAX = 500


class Turns:
    """The turn in progress and what waits for the floor; every method takes ``now``
    (monotonic seconds).

    Parameters
    ----------
    floor, roster, limits, conversation:
        The rules of the floor, the LLM/TTS/speaker nodes seen, the turn's deadlines, the
        conversation so far.
    games:
        The game on the table and its turns (default: none on, moves and comments on).
    screen:
        What the screen shows, in watch mode (default: comments on, no pictures).
    greeting:
        The show's greeting (default: one waiting, from time 0).
    voices:
        Who is talking in the room (default: ``human_name``'s, anyone may take the floor).
    human_name, stream:
        How the personas call the human (when ``voices`` is not given); the stream id
        stored with memories.
    memory_chars:
        A longer memory is shortened to this (prompt time is the slowest hop).
    prefill:
        Once a reply's text is complete, ask the LLM to compute the other personas' prompts.
    cut_grace_s:
        How long a cut turn waits for the speaker's last playhead before it is remembered.
    llm_subscribed:
        Whether some node subscribes to ``llm/request`` now (a request sent without is lost).
    new_id, wall_ns:
        Request ids, and the wall clock for memory stamps.
    """

    def __init__(self, floor: Floor, roster: Roster, *, limits: Limits,
                 conversation: Conversation, games: GameTable | None = None,
                 screen: ScreenWatch | None = None, greeting: Greeting | None = None,
                 voices: Voices | None = None,
                 human_name: str = "Collaborator", stream: str = "",
                 memory_chars: int = 240, prefill: bool = True, cut_grace_s: float = 0.3,
                 llm_subscribed: Callable[[], bool] = lambda: True,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12],
                 wall_ns: Callable[[], int] = time.time_ns):
        self.floor = floor
        self.roster = roster
        self.limits = limits
        self.conversation = conversation
        self.cast = {member.name: member for member in floor.cast}
        self.games = games if games is not None else GameTable(list(self.cast))
        self.screen = screen if screen is not None else ScreenWatch(list(self.cast))
        self.greeting = greeting if greeting is not None else Greeting()
        self.voices = voices if voices is not None else Voices(human_name)
        self.stream = stream
        self.memory_chars = memory_chars
        self.prefill = prefill
        self.cut_grace_s = cut_grace_s
        self._llm_subscribed = llm_subscribed
        self._new_id = new_id
        self._wall_ns = wall_ns
        self.current: ActiveTurn | None = None
        self.closing: dict[str, tuple[ActiveTurn, float]] = {}
        """Cut turns waiting for the speaker's last word on what was heard, with when."""
        self.human_lines: deque[tuple[Transcript, Trace | None]] = deque()
        self.deferred: deque[Candidate] = deque(maxlen=DEFERRED_MAX)
        """Chat answers that lost the floor before a word was asked for (the human started
        talking), and turns asked again: answered after the human, before newer chat."""
        self.handed_over: deque[str] = deque(maxlen=CHAT_SEEN_MAX)
        """Chat lines (ids) given to another persona after a silent answer: never twice."""
        self.chat_waiting = False
        self.chat_seen: deque[ChatMessage] = deque(maxlen=CHAT_SEEN_MAX)
        """Chat seen on the bus, used only when no chat node serves chat/next."""
        self.chat_traces: OrderedDict[str, Trace] = OrderedDict()
        self.active_persona = ""
        self.onset_held = ""
        """The turn a voice started over without cutting it (who it is was not known): it
        is cut if their words are the collaborator's and it still plays."""

    @property
    def human_name(self) -> str:
        return self.voices.human_name

    @human_name.setter
    def human_name(self, name: str) -> None:
        self.voices.human_name = name

    # ------------------------------------------------------------ inputs

    def chat(self, msg: ChatMessage, trace: Trace | None, now: float) -> list[Out]:
        """A chat line arrived: it waits for the floor; a paid or named one cuts banter."""
        if msg.id and trace is not None:
            self.chat_traces[msg.id] = trace
            while len(self.chat_traces) > CHAT_TRACES_MAX:
                self.chat_traces.popitem(last=False)
        self.chat_seen.append(msg)
        self.chat_waiting = True
        self.screen.talked(now)
        held = self.games.hold(msg.id, now)
        named = msg.persona in self.cast or addressed_to(msg.text, self.floor.cast)
        if self.floor.should_interrupt(chat_priority(msg.kind, bool(named))):
            return self.interrupt(f"{msg.kind} from {msg.user}", now)
        return [WakeIn(held)] if held else []

    def human_started(self, now: float) -> list[Out]:
        """A voice started: the persona speaking is cut at once, unless that voice may be
        someone who may not take the floor (then only their words tell)."""
        self.screen.talked(now)
        cut = self.voices.onset_cuts()
        self.onset_held = self.current.request_id if not cut and self.current else ""
        if self.floor.human_started(now, cut=cut) is not None:
            return self.interrupt("the human started talking", now)
        return []

    def human_stopped(self, now: float) -> None:
        """The floor stays theirs until their words arrive (or the wait is over)."""
        self.floor.human_stopped(now)

    def human_said(self, transcript: Transcript, trace: Trace | None, now: float) -> list[Out]:
        """Words heard in the room: the collaborator's (or anyone's who may take the floor)
        are answered first, someone else's are heard as context only; an empty transcript
        (no words) gives the floor back."""
        held, self.onset_held = self.onset_held, ""
        self.floor.human_heard(now)
        text = transcript.text.strip()
        if not text:
            return []
        self.screen.talked(now)
        voices = self.voices
        voices.heard(transcript.speaker)
        if voices.may_take_floor(transcript.speaker):
            self.human_lines.append((transcript, trace))
            # their voice did not cut the persona talking over them: their words do
            still = self.current is not None and self.current.request_id == held
            return self.interrupt(f"{voices.name(transcript.speaker)} is talking", now) \
                if still else []
        said = self._said(transcript, voices.name(transcript.speaker))
        self.conversation.add(Line(said.speaker, said.text, source=said.turn_id))
        return [Count("room_lines_unanswered"), Remember(said),
                Log(f"{said.speaker} (heard, not answered): {shorten(text, 200)}",
                    logging.INFO)]

    def _said(self, transcript: Transcript, speaker: str) -> ConversationTurn:
        return ConversationTurn(turn_id=transcript.utterance_id, speaker=speaker,
                                text=transcript.text, stream=self.stream,
                                stamp_ns=self._wall_ns())

    def game_state(self, state: GameState) -> list[Out]:
        """The game's state: a persona's move may wait for the floor; moves put off for the
        human that it no longer asks for are dropped."""
        self.games.state_changed(state)
        outs: list[Out] = []
        for candidate in [c for c in self.deferred if self._stale(c)]:
            self.deferred.remove(candidate)
            assert isinstance(candidate.game, MoveAsk)
            outs += self._stale_move(candidate.game)
        return outs

    def game_event(self, event: GameEvent, now: float) -> list[Out]:
        """A game event: a spoken one waits for a persona to say it."""
        return self.games.event(event, now)

    def frame(self, frame: GameFrame, now: float) -> list[Out]:
        """A frame of the watched screen: a new scene waits for a comment."""
        return self.screen.frame(frame, now)

    def tool_call(self, call: ToolCall) -> None:
        """A call on ``llm/tool_call``: the move it answers is not asked again after a cut."""
        self.games.tool_call(call)

    def turn_for(self, request_id: str) -> ActiveTurn | None:
        """The turn in progress or a cut one still being heard."""
        if self.current is not None and self.current.request_id == request_id:
            return self.current
        closing = self.closing.get(request_id)
        return closing[0] if closing is not None else None

    def sentence(self, sentence: Sentence, now: float) -> None:
        turn = self.turn_for(sentence.request_id)
        if turn is not None:
            turn.sentence(sentence.index).text = sentence.text
            turn.clock.sentence(now)

    def done(self, done: LlmDone, now: float) -> list[Out]:
        turn = self.turn_for(done.request_id)
        if turn is None:
            return []
        outs: list[Out] = []
        if done.error:
            outs.append(Log(f"the reply to {turn.plan.why} failed: {done.error}"))
        turn.clock.done(now)
        if self.prefill and turn is self.current and done.text and not (
                done.error or done.cut_off):
            outs += self._prefill_others(turn, done.text)
        return outs + self.check(now)

    def audio(self, chunk: AudioChunk, samples: int, now: float) -> None:
        """``samples``: how many the chunk holds (frames, whatever the channels)."""
        turn = self.turn_for(chunk.request_id)
        if turn is None:
            return
        turn.clock.audio(now)
        sentence = turn.sentence(chunk.sentence_index)
        sentence.samples += samples
        sentence.complete = sentence.complete or chunk.last
        if chunk.text and not sentence.text:
            sentence.text = chunk.text

    def playhead(self, playhead: Playhead, now: float) -> list[Out]:
        turn = self.turn_for(playhead.request_id)
        if turn is None:
            return []
        turn.clock.audio(now)
        sentence = turn.sentence(playhead.sentence_index)
        sentence.heard = max(sentence.heard, playhead.sample)
        if playhead.state == "finished":
            sentence.finished = True
        return self.check(now)

    def registry(self, seen: Sequence[Seen], epoch: str, now: float) -> list[Out]:
        """A registry snapshot: an llm, tts or speaker that left or restarted loses the turn
        it held; the floor waits for one that left (a turn started now would be lost too)."""
        outs: list[Out] = []
        for change in self.roster.update(seen, epoch, now):
            outs += self._lost(change, now)
        return outs + self.check(now)

    def tick(self, now: float) -> list[Out]:
        """Close the cut turns whose grace is over; check the turn in progress."""
        outs = self.games.expire(now) + self.screen.expire(now)
        for request_id, (turn, close_at) in list(self.closing.items()):
            if now >= close_at:
                del self.closing[request_id]
                outs += self._remember(turn, now)
        return outs + self.check(now)

    # ------------------------------------------------------------ the turn in progress

    def check(self, now: float) -> list[Out]:
        """End the turn heard to the end; else do what its deadlines say."""
        turn = self.current
        if turn is None:
            return []
        if turn.heard_to_the_end():
            self.current = None
            return self._remember(turn, now)
        verdict = None
        if turn.clock.waiting_for_llm() and self.llm_listens():
            verdict = turn.clock.llm_ready(now, why="an llm listens again")
        return self._act(turn, verdict or turn.clock.due(now), now)

    def llm_listens(self) -> bool:
        """Whether a request sent now reaches an LLM."""
        return self._llm_subscribed() and (
            self.roster.present(Role.LLM) or not self.roster.known(Role.LLM))

    def interrupt(self, reason: str, now: float) -> list[Out]:
        """Stop the persona now: the LLM, the TTS and the speaker; remember what was heard."""
        if self.current is None:
            return []
        turn = self.current
        # no fault of the game: asked again after (one not asked yet waits as it is, in ask)
        if isinstance(turn.game, MoveAsk) and turn.request is not None:
            self.games.interrupted(turn.game)
        return [Log(f"interrupting {turn.plan.persona}: {reason}", logging.INFO),
                *self._cut(reason, now)]

    def _lost(self, change: Change, now: float) -> list[Out]:
        if change.what == "back":
            outs: list[Out] = [Log(f"{change.node} is back on the bus", logging.INFO)]
        elif change.what == "gone":
            outs = [Log(f"{change.node} did not come back within "
                        f"{self.limits.rejoin_wait_s:g} s: the show goes on without it")]
        else:
            outs = [Log(f"{change}: the floor waits for it" if change.what == "left"
                        else str(change))]
        turn = self.current
        if turn is not None:
            verdict = turn.clock.lost(change, now, audio_complete=turn.audio_complete())
            outs += self._act(turn, verdict, now)
        return outs

    def _act(self, turn: ActiveTurn, verdict: Verdict | None, now: float) -> list[Out]:
        if verdict is None or turn is not self.current:
            return []
        persona, reason = turn.plan.persona, verdict.reason
        if verdict.action is Action.RESEND and turn.request is not None:
            return [Count("requests_resent"), Log(f"asking again for {persona}'s reply: {reason}"),
                    Ask(turn.request, turn.trace)]
        if verdict.action is Action.CLOSE:
            self.current = None
            return [Log(f"{persona}'s reply closed: {reason}"), *self._remember(turn, now)]
        if verdict.action is Action.CUT:
            return [Count("turns_cut"), Log(f"{persona}'s turn cancelled: {reason}"),
                    *self._cut(reason, now)]
        if verdict.action is Action.REASK:
            outs = [Count("requests_resent"),
                    Log(f"{persona}'s turn cancelled and asked again: {reason}"),
                    *self._cut(reason, now)]
            self.deferred.appendleft(self._again(turn))
            return outs
        return []

    def _cut(self, reason: str, now: float) -> list[Out]:
        """Cancel the turn in progress everywhere; the floor is free at once, and what was
        heard of it is remembered once the speaker's last playhead had time to come."""
        turn, self.current = self.current, None
        if turn is None:
            return []
        self.floor.finished(turn.request_id, now)
        turn.cut_off = True
        self.closing[turn.request_id] = (turn, now + self.cut_grace_s)
        return [Stop(turn.request_id, reason), WakeIn(self.cut_grace_s)]

    def _remember(self, turn: ActiveTurn, now: float) -> list[Out]:
        """Store what was audible (never the unspoken rest, never an empty turn). A turn that
        ends with nothing heard, and was not cut, is cancelled: every turn that starts ends
        on the bus, remembered or cancelled (and late audio of it is never played)."""
        persona = turn.plan.persona
        self.floor.finished(turn.request_id, now)
        self.screen.ended(turn.plan, now)
        text = audible_text(list(turn.sentences.values()))
        outs: list[Out] = []
        if turn.plan.why == "greeting":
            greeted = self.greeting.ended(bool(text))
            if greeted:
                outs.append(Log(greeted, logging.INFO))
        if not text:
            if turn.cut_off:
                return outs
            # a move may be made without a word (its call is the game node's): no warning
            level = logging.INFO if isinstance(turn.game, MoveAsk) else logging.WARNING
            outs += [Log(f"{persona}'s turn ended with nothing heard", level),
                     Stop(turn.request_id, "nothing was heard of it")]
            return outs + self._hand_over(turn)
        speaker = self.cast[persona].speaker
        self.conversation.add(Line(speaker, text, persona=persona, cut_off=turn.cut_off,
                                   source=turn.request_id))
        # the streamer's terminal shows the conversation as it was heard
        return [*outs,
                Log(f"{speaker}{' (cut off)' if turn.cut_off else ''}: {text}", logging.INFO),
                Remember(ConversationTurn(
                    turn_id=turn.request_id, speaker=speaker, text=text, persona=persona,
                    viewer=turn.viewer, stream=self.stream, cut_off=turn.cut_off,
                    stamp_ns=self._wall_ns()))]

    def _hand_over(self, turn: ActiveTurn) -> list[Out]:
        """A chat line whose answer came out silent (the bundled model's every sentence a
        copy of a recent line, cut) goes to the next persona, first in line, once: a viewer
        left unanswered is worse than the other voice answering."""
        plan = turn.plan
        if plan.why != "chat" or not plan.reply_to or plan.reply_to in self.handed_over:
            return []
        self.handed_over.append(plan.reply_to)
        names = [m.name for m in self.cast.values()]
        other = names[(names.index(plan.persona) + 1) % len(names)]
        if other == plan.persona:
            return []
        self.deferred.appendleft(Candidate(dataclasses.replace(plan, persona=other),
                                           turn.viewer, turn.trace, keep=True))
        return [Count("chat_handed_over"),
                Log(f"{other} answers the line {plan.persona} had nothing to say to")]

    def _prefill_others(self, turn: ActiveTurn, text: str) -> list[Out]:
        """While this reply plays, have the LLM compute the conversation as the other
        personas will see it, this reply included: whoever speaks next then finds most of
        their prompt computed (on a CPU that is most of the wait for a first sentence)."""
        persona = turn.plan.persona
        ahead = self.conversation.then(Line(self.cast[persona].speaker, " ".join(text.split()),
                                            persona=persona, source=turn.request_id))
        return [Ask(LlmRequest(request_id=f"prefill-{self._new_id()}", persona=other,
                               messages=ahead.as_seen_by(other), prefill=True), turn.trace)
                for other in self.cast if other != persona]

    # ------------------------------------------------------------ the next turn

    def free(self, now: float) -> bool:
        """Whether a persona may start: the floor's rules, and nobody the show needs is away
        (an llm, tts or speaker that left the bus: its restart is awaited)."""
        return self.current is None and self.floor.free(now) and not self.roster.away()

    def pick(self, now: float) -> Candidate | Wanted | None:
        """Who wants the floor next: the human's words, a deferred answer, a game's turn,
        chat (the node asks ``chat/next``), a comment on the screen, banter or a topic;
        None: nobody yet."""
        if self.human_lines:
            transcript, trace = self.human_lines.popleft()
            said = self._said(transcript, self.voices.name(transcript.speaker))
            return Candidate(self.floor.answer_human(transcript.text, transcript.utterance_id),
                             trace=trace, said=said)
        if self.deferred:
            return self.deferred.popleft()
        greeting = self.greeting.next_turn(now, voice_up=self.voice_up(),
                                           persona=self.floor.next_in_turn(),
                                           doing=self._doing(now))
        if greeting is not None:
            return greeting
        held = self.chat_waiting and self.games.holding(now)  # the game may take it: wait
        chat_ready = self.chat_waiting and not held
        if not self.games.chat_first(chat_ready):
            game = self.games.next_turn(self.floor.next_in_turn())
            if game is not None:
                return game
        if chat_ready:
            self.chat_waiting = False  # set again by any chat arriving while the node asks
            return Wanted.CHAT
        return None if held else self._unprompted(now)

    def voice_up(self) -> bool:
        """Whether an LLM, a TTS and a speaker are all on the bus and ready (a reply can be
        heard at once)."""
        return all(self.roster.ready(role) for role in Role)

    def _doing(self, now: float) -> str:
        """What the show is doing, for the greeting: the game on, the screen watched."""
        doing = []
        state = self.games.state
        if state is not None and state.game and not state.finished:
            doing.append(f"playing {state.game} together")
        screen = self.screen.screen
        if screen is not None and now - screen.at <= SCREEN_FRESH_S:
            doing.append("watching the screen with chat")
        return " and ".join(doing)

    def oldest_chat(self) -> ChatMessage | None:
        """The line to answer when no chat node serves ``chat/next``: the oldest one seen."""
        return self.chat_seen.popleft() if self.chat_seen else None

    def chat_chosen(self, msg: ChatMessage | None, now: float) -> Candidate | None:
        """The chat line to answer (None: no chat waits, a game's turn, a comment on the
        screen, banter or a topic may go)."""
        if msg is None:
            self.chat_seen.clear()
            game = self.games.next_turn(self.floor.next_in_turn())
            return game if game is not None else self._unprompted(now)
        self.chat_seen = deque((m for m in self.chat_seen if m.id != msg.id),
                               maxlen=CHAT_SEEN_MAX)
        self.chat_waiting = True  # there may be more
        if self.games.took(msg.id):  # a game's move answers it (the next tick asks again)
            return self.games.next_turn(self.floor.next_in_turn())
        return Candidate(self.floor.answer_chat(msg.text, msg.kind, msg.id, msg.persona),
                         viewer=f"{msg.platform}:{msg.user_id or msg.user}",
                         trace=self.chat_traces.get(msg.id),
                         line=Line(msg.user, msg.text, source=f"chat:{msg.platform}:{msg.id}"),
                         keep=True)

    def _unprompted(self, now: float) -> Candidate | None:
        """With nobody to answer: a comment on the screen, banter or a topic."""
        comment = self.screen.next_turn(now)
        if comment is not None:
            return comment
        last = self.conversation.last_line()
        plan = self.floor.banter_or_topic(now, last.text if last is not None and last.persona
                                          else "")
        return None if plan is None else self.screen.answer(plan)

    def begin(self, candidate: Candidate, now: float) -> tuple[ActiveTurn | None, list[Out]]:
        """Give ``candidate`` the floor if it is free (else a chat answer waits for it); the
        node then fetches memories and calls `ask`."""
        outs: list[Out] = []
        if isinstance(candidate.game, MoveAsk) and self._stale(candidate):
            return None, self._stale_move(candidate.game)
        if candidate.said is not None:
            said = candidate.said
            self.conversation.add(Line(said.speaker, said.text, source=said.turn_id))
            outs.append(Remember(said))
        if not self.free(now):
            if candidate.keep:  # the human spoke up before a word was asked
                self.deferred.appendleft(candidate)
                outs.append(Count("chat_deferred"))
            return None, outs
        plan = candidate.plan
        if candidate.line is not None:
            self.conversation.add(candidate.line)
        request_id = self._new_id()
        if isinstance(candidate.game, MoveAsk):  # the game node takes a call for MOVE_ID/...
            request_id = f"{candidate.game.move_id}/{request_id}"
        self.floor.started(plan, request_id, now)
        if plan.why in ("watch", "greeting"):  # the other persona may answer it once
            self.floor.banter_left = min(self.floor.banter_left, 1)
        skipped = self.greeting.started(plan, request_id)
        if skipped:
            outs.append(Log(f"no greeting: {skipped}", logging.INFO))
        self.games.started(plan)
        self.screen.started(plan, candidate.game, now)
        turn = ActiveTurn(plan, request_id, candidate.viewer, TurnClock(self.limits),
                          trace=candidate.trace, keep=candidate.keep, game=candidate.game)
        self.current = turn
        persona = None
        if plan.persona != self.active_persona:
            self.active_persona = plan.persona
            member = self.cast[plan.persona]
            persona = Persona(name=plan.persona, avatar=member.avatar, voice=member.voice)
        outs.append(Announce(Turn(speaker=plan.persona, why=plan.why, request_id=request_id,
                                  reply_to=plan.reply_to), persona, turn.trace))
        return turn, outs

    def ask(self, turn: ActiveTurn, hits: Sequence[MemoryHit], now: float) -> list[Out]:
        """The request for ``turn``'s words, with the memories found (``hits``); nothing if
        the turn lost the floor meanwhile (a chat answer then waits again, first in line)."""
        if turn is not self.current:
            if not turn.keep:
                return []
            self.deferred.appendleft(self._again(turn))
            return [Count("chat_deferred")]
        plan = turn.plan
        messages = self.conversation.as_seen_by(plan.persona)
        memories = self._memories(hits)
        if isinstance(turn.game, MoveAsk):
            state = self.games.current(turn.game)
            if state is None:  # played or asked again while the turn began: never asked
                self.current = None
                self.floor.finished(turn.request_id, now)
                return [*self._stale_move(turn.game),
                        Stop(turn.request_id, "its move is no longer asked")]
            turn.request = move_request(turn.request_id, plan.persona, messages, state,
                                        memories)
        else:
            seen = self.screen.shown(plan, turn.game, now)
            if isinstance(turn.game, CommentAsk):
                messages.append(ChatTurn(role="user", content=comment_prompt(turn.game.event)))
            elif isinstance(turn.game, SceneAsk) and plan.why == "watch":
                messages.append(ChatTurn(role="user", content=scene_prompt(turn.game)))
            elif seen is not None:  # before the line answered: it stays the question
                messages.insert(max(0, len(messages) - 1),
                                ChatTurn(role="user", content=screen_note(seen)))
            elif plan.why == "topic":
                messages.append(ChatTurn(role="user", content=f"(Chat is quiet. Bring up "
                                         f"{plan.prompt}, in your own words.)"))
            elif plan.why == "greeting":
                messages.append(ChatTurn(role="user", content=plan.prompt))
            turn.request = LlmRequest(request_id=turn.request_id, persona=plan.persona,
                                      messages=messages, memories=memories,
                                      images=self.screen.pictures(seen))
        # nobody subscribed (the llm is down): the request is lost, asked again when one is up
        turn.clock.asked(now, listened=self.llm_listens())
        answering = (f", answering: {plan.prompt}"
                     if plan.prompt and plan.why not in ("banter", "greeting") else "")
        # the terminal's line comes after the request: writing it is not on the reply's path
        return [Ask(turn.request, turn.trace),
                Log(f"{self.cast[plan.persona].speaker} has the floor ({plan.why}){answering}",
                    logging.INFO)]

    def _again(self, turn: ActiveTurn) -> Candidate:
        """``turn`` to be asked again as a new turn, first in line."""
        return Candidate(turn.plan, turn.viewer, turn.trace, keep=True, game=turn.game)

    def _stale(self, candidate: Candidate) -> bool:
        """A move the game no longer asks for (played, asked under a new id, the game over)."""
        return isinstance(candidate.game, MoveAsk) and self.games.current(candidate.game) is None

    def _stale_move(self, move: MoveAsk) -> list[Out]:
        return [Count("game_moves_stale"),
                Log(f"{move.state.turn}'s move {move.move_id} is no longer asked: dropped",
                    logging.INFO)]

    def _memories(self, hits: Sequence[MemoryHit]) -> list[str]:
        # what the conversation already holds is in the prompt anyway; a turn and the summary
        # that holds it can both match: each text once, best first, none very long
        present = self.conversation.sources()
        texts = (shorten(hit.text, self.memory_chars) for hit in hits
                 if hit.source_turn not in present)
        return list(dict.fromkeys(texts))
