"""Who has the floor: the turn-taking rules of the show, as pure logic.

Rules, in order, whenever nobody is speaking:

1. The human collaborator always has the floor: while they speak, no persona starts, and a
   persona who is speaking is interrupted the moment they start.
2. Something the human said is answered first: by the persona they named, else by the one
   who spoke least recently.
3. Chat next (the chat node's best message): a persona named in it (or by ``!ask NAME``)
   answers, else the personas alternate.
4. After a persona's turn the other one may answer it (banter), up to ``banter_turns`` in a
   row; chat and the human reset that count.
5. When the show has been quiet for ``quiet_s``, a persona starts a topic of its own.

A game (`nodes.director.games`) adds its turns between the human's and chat's: what a persona
says about the game, then a persona's move; chat may go between two of them
(``chat_between_game_turns``).
Watch mode (`nodes.director.watching`) adds a comment on what the screen shows between chat
and banter, and the other persona's answer to it as banter.

While a persona speaks, only the human interrupts a reply (to chat, or a game's move or
comment); a paid message or one naming a
persona goes first in the queue, and cuts only banter, a topic or a comment on the
screen (a streamer expects a persona
answering chat to finish: under the soak's 5 lines/s, with one line in five naming a persona,
letting those cut chat replies cut most of them).

A turn is ended by its id, never by its persona: a cut turn is closed a moment later (once its
last words were heard), and by then the same persona may be speaking again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum

from nodes.director.cast import CastMember

__all__ = ["Floor", "Plan", "Priority", "addressed_to", "chat_priority"]


class Priority(IntEnum):
    TOPIC = 1
    BANTER = 1
    WATCH = 2
    """A comment on what the screen shows (watch mode): after chat, before banter; a paid or
    named chat line cuts it, like banter."""
    CHAT = 3
    GAME = 3
    """A persona's move or a line about the game: cut only by the human, like a chat reply
    (an alias of CHAT)."""
    GREETING = 3
    """The show's first words (`nodes.director.greeting`): cut only by the human (an alias
    of CHAT)."""
    ADDRESSED = 4
    PAID = 4
    HUMAN = 5


PAID_KINDS = frozenset({"bits", "superchat", "sticker", "sub", "gift", "raid", "member"})


def addressed_to(text: str, cast: list[CastMember]) -> str | None:
    """The persona a line names (``!ask NAME ...`` or the name as a word), if exactly one."""
    lowered = text.lower()
    command = re.match(r"\s*!ask\s+(\S+)", lowered)
    named = []
    for member in cast:
        names = [n.lower() for n in member.names()]
        if command and command.group(1).strip("@,:") in names:
            return member.name
        if any(re.search(rf"(?<![\w@])@?{re.escape(n)}\b", lowered) for n in names):
            named.append(member.name)
    return named[0] if len(named) == 1 else None


def chat_priority(kind: str, addressed: bool) -> Priority:
    if kind in PAID_KINDS:
        return Priority.PAID
    return Priority.ADDRESSED if addressed else Priority.CHAT


@dataclass(frozen=True)
class Plan:
    """The next turn: who speaks, why, and in answer to what."""

    persona: str
    why: str
    """``human``, ``addressed``, ``chat``, ``banter``, ``topic``, ``move`` (a game move),
    ``game`` (a line about the game), ``watch`` (a comment on the screen) or ``greeting``
    (the show's first words)."""
    priority: Priority
    prompt: str = ""
    """What is being answered (a chat line, the human's words, a topic)."""
    reply_to: str = ""


@dataclass
class Floor:
    """The state of the floor; the node feeds it events and asks it what to do.

    Parameters
    ----------
    cast:
        The personas, in their default order.
    banter_turns:
        How many times in a row the personas may answer each other without chat or human.
    quiet_s:
        Seconds of silence before a persona starts a topic of its own.
    words_wait_s:
        How long the floor stays the human's after they stop talking, waiting for the
        transcript of what they said (it comes after the voice-activity end: speech-to-text
        takes its time). Without this, chat waiting in the queue would be answered first and
        the human's words a turn later. A pause with no words (a cough) frees it after this.
    """

    cast: list[CastMember]
    banter_turns: int = 2
    quiet_s: float = 20.0
    words_wait_s: float = 2.0
    # the state, from the events
    human_speaking: bool = field(default=False, init=False)
    awaiting_words_since: float | None = field(default=None, init=False)
    """When the human stopped talking, until their transcript arrives."""
    speaking: Plan | None = field(default=None, init=False)
    speaking_id: str = field(default="", init=False)
    """The id of the turn in progress (the director's request id)."""
    last_speaker: str = field(default="", init=False)
    banter_left: int = field(default=0, init=False)
    last_activity: float = field(default=0.0, init=False)
    last_spoken_at: dict[str, float] = field(default_factory=dict, init=False)
    _topic_index: dict[str, int] = field(default_factory=dict, init=False)

    # ------------------------------------------------------------ events

    def human_started(self, now: float, *, cut: bool = True) -> Plan | None:
        """The human began talking; returns the turn to cut, if one is in progress (it ends
        here). ``cut`` False: the floor is held (no new turn starts) but the turn in progress
        goes on (a voice that may not be the collaborator's, `nodes.director.voices`)."""
        self.human_speaking = True
        self.last_activity = now
        return self.finished(self.speaking_id, now) if cut else None

    def human_stopped(self, now: float) -> None:
        """The human's voice stopped; their words are still on their way."""
        self.human_speaking = False
        self.awaiting_words_since = now
        self.last_activity = now

    def human_heard(self, now: float) -> None:
        """The human's words arrived (or nothing more will)."""
        self.human_speaking = False
        self.awaiting_words_since = None
        self.last_activity = now

    def started(self, plan: Plan, turn_id: str, now: float) -> None:
        """Turn ``turn_id`` has the floor."""
        self.speaking, self.speaking_id = plan, turn_id
        self.last_activity = now
        if plan.why == "banter":
            self.banter_left -= 1
        else:
            self.banter_left = self.banter_turns

    def finished(self, turn_id: str, now: float) -> Plan | None:
        """Turn ``turn_id`` ended (heard to the end, or cut); returns its plan. A turn that
        is not the one in progress ended before (it was cut): nothing changes."""
        plan = self.speaking
        if plan is None or turn_id != self.speaking_id:
            return None
        self.speaking, self.speaking_id = None, ""
        self.last_speaker = plan.persona
        self.last_spoken_at[plan.persona] = now
        self.last_activity = now
        return plan

    def should_interrupt(self, priority: Priority) -> bool:
        """Whether a chat event of ``priority`` cuts the turn in progress: only a paid or
        named line, and only banter, a topic or a comment on the screen."""
        return (
            self.speaking is not None and priority >= Priority.ADDRESSED
            and self.speaking.priority < Priority.CHAT
        )

    # ------------------------------------------------------------ decisions

    def free(self, now: float) -> bool:
        """Whether a persona may take the floor at ``now``."""
        awaiting = (self.awaiting_words_since is not None
                    and now - self.awaiting_words_since < self.words_wait_s)
        return not self.human_speaking and not awaiting and self.speaking is None

    def answer_human(self, text: str, reply_to: str = "") -> Plan:
        named = addressed_to(text, self.cast)
        return Plan(named or self._least_recent(), "human", Priority.HUMAN, text, reply_to)

    def answer_chat(self, text: str, kind: str, reply_to: str = "", persona: str = "") -> Plan:
        """``persona``: whom the chat node's ``!ask`` command named, if anyone."""
        known = {m.name for m in self.cast}
        named = persona if persona in known else addressed_to(text, self.cast)
        return Plan(named or self.next_in_turn(), "addressed" if named else "chat",
                    chat_priority(kind, named is not None), text, reply_to)

    def banter_or_topic(self, now: float, last_line: str) -> Plan | None:
        """With no human and no chat: answer the other persona, or break a long silence."""
        if self.last_speaker and self.banter_left > 0 and last_line:
            return Plan(self.next_in_turn(), "banter", Priority.BANTER, last_line)
        if now - self.last_activity >= self.quiet_s:
            persona = self.next_in_turn()
            return Plan(persona, "topic", Priority.TOPIC, self._next_topic(persona))
        return None

    # ------------------------------------------------------------ helpers

    def next_in_turn(self) -> str:
        """The persona after the last speaker (alternation)."""
        names = [m.name for m in self.cast]
        if self.last_speaker not in names:
            return names[0]
        return names[(names.index(self.last_speaker) + 1) % len(names)]

    def _least_recent(self) -> str:
        return min((m.name for m in self.cast), key=lambda n: self.last_spoken_at.get(n, -1.0))

    def _next_topic(self, persona: str) -> str:
        member = next(m for m in self.cast if m.name == persona)
        if not member.topics:
            return "something fun that happened to you this week"
        index = self._topic_index.get(persona, 0)
        self._topic_index[persona] = index + 1
        return member.topics[index % len(member.topics)]
