"""The director's test helpers.

- `Show`: the turn state machine on a fake clock, without a bus: it plays the node's part (it
  runs a decision the way the node does: pick, ask ``chat/next`` if wanted, begin, ask) and
  collects every decision (tests/unit/test_director_turns.py, test_director_games.py,
  test_director_watching.py).
- `VoiceStandIn`: a scripted LLM, TTS and speaker on a real bus, answering every request
  with fixed sentences played in real time (tests/integration/test_director_*.py).
- `PlayingVoice`: the same, answering a request with tools (a game move) with a call first,
  as a constrained decode would (tests/integration/test_director_games_bus.py, benchmarks/game.py).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from typing import TypeVar

from bus.testing import Probe
from messages.audio import AudioChunk, Playhead, SpeakerControl
from messages.chat import ChatMessage
from messages.llm import LlmDone, LlmRequest, Sentence, ToolCall
from messages.memory import ConversationTurn, MemoryHit
from messages.speech import Transcript
from nodes.director.cast import DEFAULT_CAST
from nodes.director.deadlines import Limits
from nodes.director.decisions import ActiveTurn, Ask, Candidate, Out, Remember, Stop, Wanted
from nodes.director.floor import Floor
from nodes.director.games import GameTable
from nodes.director.history import Conversation
from nodes.director.roster import Role, Roster, Seen
from nodes.director.turns import Turns
from nodes.director.watching import ScreenWatch

__all__ = ["CAST", "GRACE", "LIMITS", "RATE", "SAMPLES", "TOPICS", "PlayingVoice", "Show",
           "VoiceStandIn", "chat"]

CAST = list(DEFAULT_CAST)  # mika, rook
TOPICS = {Role.LLM: "llm/done", Role.TTS: "tts/audio", Role.SPEAKER: "audio/playhead"}
LIMITS = Limits(first_sentence_s=60, stall_s=30, audio_s=10, rejoin_wait_s=30)
GRACE = 0.3
SAMPLES = 1000
RATE = 16000
OutT = TypeVar("OutT")


def chat(text: str, msg_id: str, *, kind: str = "text", user: str = "ann") -> ChatMessage:
    return ChatMessage(platform="twitch", user=user, user_id=f"{user}-id", text=text, id=msg_id,
                       kind=kind)


class Show:
    """Turns with a fake clock, the decisions it made, and the node's part played by hand."""

    def __init__(self, *, banter_turns: int = 0, quiet_s: float = 1000.0,
                 llm_subscribed: bool = True, games: GameTable | None = None,
                 screen: ScreenWatch | None = None):
        ids = itertools.count(1)
        self.llm_subscribed = llm_subscribed
        self.turns = Turns(
            Floor(CAST, banter_turns=banter_turns, quiet_s=quiet_s, words_wait_s=2.0),
            Roster(TOPICS, rejoin_wait_s=LIMITS.rejoin_wait_s), limits=LIMITS,
            conversation=Conversation(), games=games, screen=screen, cut_grace_s=GRACE,
            llm_subscribed=lambda: self.llm_subscribed,
            new_id=lambda: f"r{next(ids)}", wall_ns=lambda: 42)
        self.now = 0.0
        self.outs: list[Out] = []
        self.chat_asked = 0

    def at(self, now: float, outs: Iterable[Out] | None = None) -> list[Out]:
        """Move the clock to ``now`` and keep ``outs`` (what a call at ``now`` answered)."""
        self.now = now
        kept = list(outs or [])
        self.outs += kept
        return kept

    def of(self, kind: type[OutT]) -> list[OutT]:
        return [out for out in self.outs if isinstance(out, kind)]

    def requests(self) -> list[LlmRequest]:
        return [a.request for a in self.of(Ask) if not a.request.prefill]

    def remembered(self, turn_id: str) -> list[ConversationTurn]:
        return [r.line for r in self.of(Remember) if r.line.turn_id == turn_id]

    def stopped(self) -> list[str]:
        return [s.request_id for s in self.of(Stop)]

    # the node's part

    def decide(self, *served: ChatMessage | None) -> ActiveTurn | None:
        """One decision, as the node makes it: ``served`` is what ``chat/next`` answers."""
        pick = self.turns.pick(self.now)
        if pick is Wanted.CHAT:
            self.chat_asked += 1
            pick = self.turns.chat_chosen(served[0] if served else None, self.now)
        return self.ask(self.begin(pick))

    def begin(self, pick: Candidate | Wanted | None) -> ActiveTurn | None:
        assert not isinstance(pick, Wanted)
        if pick is None:
            return None
        turn, outs = self.turns.begin(pick, self.now)
        self.at(self.now, outs)
        return turn

    def ask(self, turn: ActiveTurn | None, hits: list[MemoryHit] | None = None
            ) -> ActiveTurn | None:
        if turn is not None:
            self.at(self.now, self.turns.ask(turn, hits or [], self.now))
        return turn

    def say(self, turn: ActiveTurn, *sentences: str, done: bool = True) -> None:
        """The LLM's sentences (and llm/done), the TTS's audio for each, at ``now``."""
        for index, text in enumerate(sentences):
            self.turns.sentence(Sentence(request_id=turn.request_id, persona=turn.plan.persona,
                                         index=index, text=text), self.now)
            self.turns.audio(AudioChunk(persona=turn.plan.persona, request_id=turn.request_id,
                                        sentence_index=index, chunk_index=0, pcm=b"",
                                        sample_rate=16000, text=text, last=True),
                             SAMPLES, self.now)
        if done:
            self.at(self.now, self.turns.done(LlmDone(
                request_id=turn.request_id, persona=turn.plan.persona,
                text=" ".join(sentences)), self.now))

    def play(self, turn: ActiveTurn, index: int, sample: int, state: str = "playing"
             ) -> list[Out]:
        return self.at(self.now, self.turns.playhead(Playhead(
            persona=turn.plan.persona, request_id=turn.request_id, sentence_index=index,
            sample=sample, sample_rate=16000, state=state), self.now))  # type: ignore[arg-type]

    def heard(self, turn: ActiveTurn, *sentences: str) -> None:
        """``turn`` says ``sentences`` and they are played to the end."""
        self.say(turn, *sentences)
        for index in range(len(sentences)):
            self.play(turn, index, SAMPLES, "finished")

    def human(self, text: str, utterance: str = "u1", *, start: float, stop: float,
              speaker: str = "unknown") -> None:
        self.at(start, self.turns.human_started(start))
        self.human_stops(text, utterance, stop=stop, speaker=speaker)

    def human_stops(self, text: str, utterance: str = "", *, stop: float,
                    speaker: str = "unknown") -> None:
        """The human stops at ``stop`` having said ``text`` ("": a pause without words);
        the utterance id is ``u-<text>`` unless given; ``speaker``: the stt node's label."""
        self.turns.human_stopped(stop)
        self.at(stop, self.turns.human_said(Transcript(
            utterance_id=utterance or f"u-{text}", text=text, final=True, speaker=speaker),
            None, stop))

    def voice_up(self, now: float) -> None:
        """An LLM, a TTS and a speaker on the bus (one node playing the three roles)."""
        self.at(now, self.turns.registry([Seen("voice", 1, 1, frozenset(TOPICS.values()))],
                                         "e1", now))

    def chat_turn(self, text: str, msg_id: str, now: float = 0.0) -> ActiveTurn:
        """A chat line arrives at ``now`` and is served to the next decision: the turn it
        begins (asserted to begin)."""
        line = chat(text, msg_id)
        self.at(now, self.turns.chat(line, None, now))
        turn = self.decide(line)
        assert turn is not None
        return turn

    def tick(self, now: float) -> list[Out]:
        return self.at(now, self.turns.tick(now))


class VoiceStandIn:
    """Answers every llm/request with fixed sentences and plays them in real time: Sentence,
    LlmDone, AudioChunk per sentence, then Playhead while 'playing'; obeys audio/control."""

    def __init__(self, probe: Probe, sentences: list[str], seconds_per_sentence: float):
        self.probe = probe
        self.sentences = sentences
        self.seconds = seconds_per_sentence
        self.stopped: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []
        probe.create_subscription(LlmRequest, "llm/request", self.on_request)
        probe.create_subscription(SpeakerControl, "audio/control",
                                  lambda c: self.stopped.add(c.request_id))
        self.pubs = {
            "sentence": probe.create_publisher(Sentence, "llm/sentence"),
            "done": probe.create_publisher(LlmDone, "llm/done"),
            "audio": probe.create_publisher(AudioChunk, "tts/audio"),
            "playhead": probe.create_publisher(Playhead, "audio/playhead"),
        }

    def on_request(self, request: LlmRequest) -> None:
        if request.prefill:  # the LLM only computes the prompt: nothing is said
            return
        self.tasks.append(asyncio.get_running_loop().create_task(self.speak(request)))

    async def speak(self, request: LlmRequest) -> None:
        samples = int(self.seconds * RATE)
        for index, text in enumerate(self.sentences):
            self.pubs["sentence"].publish(Sentence(request_id=request.request_id,
                                                   persona=request.persona, index=index, text=text))
            self.pubs["audio"].publish(AudioChunk(
                persona=request.persona, request_id=request.request_id, sentence_index=index,
                chunk_index=0, pcm=b"\0\0" * samples, sample_rate=RATE, text=text, last=True))
        self.pubs["done"].publish(LlmDone(request_id=request.request_id, persona=request.persona,
                                          text=" ".join(self.sentences)))
        for index, text in enumerate(self.sentences):
            for step in range(1, 11):
                await asyncio.sleep(self.seconds / 10)
                state = "finished" if step == 10 else "playing"
                if request.request_id in self.stopped:
                    state = "cut"
                self.pubs["playhead"].publish(Playhead(
                    persona=request.persona, request_id=request.request_id, sentence_index=index,
                    sample=samples * step // 10, sample_rate=RATE, state=state, text=text))
                if state == "cut":
                    return


class PlayingVoice(VoiceStandIn):
    """`VoiceStandIn`; a request with tools is answered with a call first: the first tool,
    each argument its schema's first choice (the game lists the legal ones, best first), as a
    constrained decode of the top-ranked option would. ``calls`` counts the calls made."""

    def __init__(self, probe: Probe, sentences: list[str] | None = None,
                 seconds_per_sentence: float = 0.1):
        super().__init__(probe, sentences or ["My move!"], seconds_per_sentence)
        self.call_pub = probe.create_publisher(ToolCall, "llm/tool_call")
        self.calls = 0

    def on_request(self, request: LlmRequest) -> None:
        if request.tools and not request.prefill:
            tool = request.tools[0]
            properties = tool.parameters.get("properties", {})
            self.calls += 1
            self.call_pub.publish(ToolCall(
                request_id=request.request_id, persona=request.persona,
                call_id=f"c{self.calls}", name=tool.name,
                arguments={key: spec["enum"][0] for key, spec in properties.items()}))
        super().on_request(request)
