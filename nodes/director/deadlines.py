"""Every turn ends: its deadlines, and what a dead LLM, TTS or speaker means for it.

A turn goes: the request goes out, the LLM streams sentences and then ``llm/done``, the TTS
voices them, the speaker plays them. Each step can stop for good (a process killed, a hung
backend, a request sent while the LLM was down), and nothing downstream would ever say so.
`TurnClock` is fed the turn's events with ``now`` and answers what to do, a `Verdict`:

- ``RESEND``: the LLM that had the request is gone before saying a word and an LLM is there
  again: ask it again (once; a second loss ends the turn).
- ``CUT``: the turn cannot finish: cancel it (LLM, TTS, speaker), keep what was heard, give
  the floor to the next turn. Why, in ``reason``, for the log. When:

  * no first sentence ``first_sentence_s`` after the request (a hung or overloaded LLM);
  * no sentence and no ``llm/done`` for ``stall_s`` in the middle of a reply;
  * no LLM came back within ``rejoin_wait_s`` for a request it lost;
  * the LLM left or restarted mid-reply, the TTS with the reply's audio not all made, or
    the speaker with audio of the reply in hand;
  * vtbus restarted mid-reply: sentences, audio or playheads in flight are lost, and the
    audio timeout would be the only way out (14 s of silence seen in the soak).

- ``REASK``: vtbus restarted before the reply's first sentence: the request may have been
  lost, or the LLM may be streaming into the void; cancel it and ask again as a new turn
  (a new request id: the LLM would drop a cancelled one).
- ``CLOSE``: the text is complete and no audio or playhead came for ``audio_s`` (no speaker
  running): the turn ends as said.

Deadlines count from the last sign of progress: a long reply that keeps streaming, or that
plays long after its text is complete, is never cut. The LLM's deadlines are a last resort,
and generous: a restart or a stop is seen in the registry at once (`nodes.director.roster`),
while a slow LLM is not a dead one (measured here with the machine loaded to 12 on 2 cores,
the bundled model's warm-up before its first reply took 18 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from nodes.director.roster import BUS, Change, Role

__all__ = ["Action", "Limits", "TurnClock", "Verdict"]

MAX_RESENDS = 1
"""A request lost twice is given up: a crash loop must not hold the floor."""


class Action(Enum):
    RESEND = "resend"
    REASK = "reask"
    CUT = "cut"
    CLOSE = "close"


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str


@dataclass(frozen=True)
class Limits:
    """The turn's deadlines, in seconds (the director's parameters of the same names)."""

    first_sentence_s: float = 60.0
    stall_s: float = 30.0
    audio_s: float = 10.0
    rejoin_wait_s: float = 30.0


@dataclass
class TurnClock:
    """The timing of one turn, from the request to its last sound."""

    limits: Limits
    asked_at: float | None = field(default=None, init=False)
    """When the request last went out to a listening LLM."""
    waiting_since: float | None = field(default=None, init=False)
    """Since when the request waits for an LLM to ask (none listened, or it was lost)."""
    text_at: float | None = field(default=None, init=False)
    done_at: float | None = field(default=None, init=False)
    audio_at: float | None = field(default=None, init=False)
    """When audio or a playhead of the turn last arrived."""
    resends: int = field(default=0, init=False)

    # ------------------------------------------------------------ events

    def asked(self, now: float, *, listened: bool) -> None:
        """The request went out; ``listened``: some node subscribed to it (else it is lost)."""
        if listened:
            self.asked_at, self.waiting_since = now, None
        else:
            self.asked_at, self.waiting_since = None, now

    def sentence(self, now: float) -> None:
        self.text_at = now

    def done(self, now: float) -> None:
        self.done_at = now

    def audio(self, now: float) -> None:
        self.audio_at = now

    def lost(self, change: Change, now: float, *, audio_complete: bool) -> Verdict | None:
        """A node of the turn's path left or restarted (``change``); ``audio_complete``:
        every sentence said so far has all its audio at the speaker."""
        if change.what not in ("left", "restarted"):
            return None
        how = f"{change.node} {change.what}"
        if change.node == BUS and self.asked_at is not None:
            if self.text_at is None and self.done_at is None:
                return Verdict(Action.REASK, f"{how} before the first sentence: the request "
                               "or its answer may be lost")
            return Verdict(Action.CUT, f"{how} mid-reply: what was in flight is lost")
        if Role.SPEAKER in change.roles and self.audio_at is not None:
            return Verdict(Action.CUT, f"{how} mid-reply: the audio it held is lost")
        if Role.TTS in change.roles and self.text_at is not None and not (
                self.done_at is not None and audio_complete):
            return Verdict(Action.CUT, f"{how} mid-reply: the rest of the voice is lost")
        if Role.LLM in change.roles and self.done_at is None:
            if self.text_at is not None:
                return Verdict(Action.CUT, f"{how} mid-reply: the rest of the text is lost")
            if self.asked_at is not None:
                if self.resends >= MAX_RESENDS:
                    return Verdict(Action.CUT, f"{how} again before answering: given up")
                self.asked_at, self.waiting_since = None, now
        return None

    def llm_ready(self, now: float, *, why: str) -> Verdict | None:
        """An LLM listens now (``why``: which, for the log): ask again if the turn waits."""
        if self.waiting_since is None:
            return None
        self.resends += 1
        self.asked_at, self.waiting_since = now, None
        return Verdict(Action.RESEND, why)

    # ------------------------------------------------------------ deadlines

    def waiting_for_llm(self) -> bool:
        return self.waiting_since is not None

    def due(self, now: float) -> Verdict | None:
        """What the clock says at ``now`` (None: wait)."""
        limits = self.limits
        if self.waiting_since is not None:
            if now - self.waiting_since >= limits.rejoin_wait_s:
                return Verdict(Action.CUT, f"no llm listened within {limits.rejoin_wait_s:g} s")
            return None
        if self.done_at is not None:
            last = max(self.done_at, self.audio_at or self.done_at)
            if now - last >= limits.audio_s:
                return Verdict(Action.CLOSE, f"no audio for {limits.audio_s:g} s: "
                               "is the speaker running?")
            return None
        if self.text_at is not None:
            if now - self.text_at >= limits.stall_s:
                return Verdict(Action.CUT, f"the reply stopped streaming: no sentence and no "
                               f"llm/done for {limits.stall_s:g} s")
            return None
        if self.asked_at is not None and now - self.asked_at >= limits.first_sentence_s:
            return Verdict(Action.CUT, f"no first sentence from the llm within "
                           f"{limits.first_sentence_s:g} s")
        return None
