"""The show's first words: a persona greets the audience as soon as the voice is up.

Without it a new show was silent until ``quiet_s`` ran out (14 s and more after vtlaunch's
"all N programs up"). `Greeting` offers `nodes.director.turns` one turn, the show's first
(``why`` ``greeting``), once every role a reply needs is on the bus: an LLM, a TTS and a
speaker (`nodes.director.roster`, from the registry the director reads every ``watch_s``).
The first persona of the cast says hello to the stream, told what the show is doing (a game
on the table, the screen being watched); the other may answer once (banter).

Once per show, never again:

- a greeting heard (any of it) is said; one that ended with nothing heard (its TTS or speaker
  was lost mid-reply, a cold voice gave no audio in time: both seen on a loaded machine's
  first minute) is asked again of the same persona while no other turn went first, up to
  `GREETING_TRIES` times;
- any other turn that starts first settles it (the human's words, chat while the voice was
  not up yet);
- a director restarted mid-show finds the last ``director/turn`` of the show latched on the
  bus (its predecessor's), and the node tells `Greeting.show_under_way` before the first
  greeting could go: it never greets again. The latched value is asked for when the node
  subscribes, again 0.3 s later and at the bus's first hello, so the greeting waits
  ``settle_s`` after the director's start for it (a fresh show's LLM takes longer to load
  anyway).
"""

from __future__ import annotations

from enum import Enum

from nodes.director.decisions import Candidate
from nodes.director.floor import Plan, Priority

__all__ = ["GREETING_SETTLE_S", "GREETING_TRIES", "Greeting", "GreetingState",
           "greeting_prompt"]

GREETING_TRIES = 3
"""Greetings asked at most (each ended with nothing heard)."""
GREETING_SETTLE_S = 1.0
"""After the director starts, how long a greeting waits for a latched turn that says the show
is already under way (asked at subscribe and 0.3 s later: this covers both, with slack)."""


class GreetingState(Enum):
    WAITING = "waiting"
    """Not said yet: offered once the voice is up."""
    ASKED = "asked"
    """A greeting turn is under way."""
    SAID = "said"
    SKIPPED = "skipped"
    """Not to be said: switched off, the show already under way, or another turn went first."""


def greeting_prompt(doing: str) -> str:
    """What the persona is asked to say; ``doing``: what the show is doing, or ''."""
    now = f" Today you are {doing}." if doing else ""
    return (f"(The stream just started and everyone watching has arrived.{now} Greet them "
            f"warmly, in your own words, in a sentence or two.)")


class Greeting:
    """The greeting's state: waiting, said, or skipped.

    Parameters
    ----------
    enabled:
        Whether the show greets at all (off: the state is skipped from the start).
    started_at:
        When the director started (monotonic seconds): the greeting waits ``settle_s`` after.
    settle_s:
        See `GREETING_SETTLE_S`.
    """

    def __init__(self, *, enabled: bool = True, started_at: float = 0.0,
                 settle_s: float = GREETING_SETTLE_S):
        self.state = GreetingState.WAITING if enabled else GreetingState.SKIPPED
        self.started_at = started_at
        self.settle_s = settle_s
        self.reason = "" if enabled else "switched off"
        self.asked: list[str] = []
        """Request ids of the greeting turns (at most `GREETING_TRIES`): this director's own
        turns, when they come back on ``director/turn``."""
        self._superseded = False
        """Another turn started while a greeting was under way."""
        self.persona = ""
        """Who greets: the persona first asked (asked again, the same one)."""

    @property
    def waiting(self) -> bool:
        return self.state is GreetingState.WAITING

    def switch(self, enabled: bool) -> None:
        """The ``greeting`` parameter set at run time: off skips a greeting not said yet; on
        brings back one that was only switched off (never a second one)."""
        if not enabled and self.waiting:
            self.state, self.reason = GreetingState.SKIPPED, "switched off"
        elif enabled and self.reason == "switched off":
            self.state, self.reason = GreetingState.WAITING, ""

    def show_under_way(self, why: str) -> bool:
        """The show started before this director did (a turn of it seen on the bus): no
        greeting. Returns whether this changed anything (a greeting was still waiting)."""
        if not self.waiting:
            return False
        self.state, self.reason = GreetingState.SKIPPED, why
        return True

    def next_turn(self, now: float, *, voice_up: bool, persona: str,
                  doing: str = "") -> Candidate | None:
        """The greeting, if it is due: still waiting, ``settle_s`` after the start, and the
        LLM, TTS and speaker all on the bus (``voice_up``); said by ``persona`` (asked again:
        by the persona first asked)."""
        if not self.waiting or not voice_up or now - self.started_at < self.settle_s:
            return None
        return Candidate(Plan(self.persona or persona, "greeting", Priority.GREETING,
                              greeting_prompt(doing)))

    def started(self, plan: Plan, request_id: str) -> str:
        """A turn took the floor: the greeting (under way now), or another one (the greeting
        will not be said). Returns why it was skipped, when this skipped it ('' otherwise)."""
        if self.state is GreetingState.ASKED and plan.why != "greeting":
            self._superseded = True
        if not self.waiting:
            return ""
        if plan.why == "greeting":
            self.state = GreetingState.ASKED
            self.asked.append(request_id)
            self.persona = plan.persona
            return ""
        self.state = GreetingState.SKIPPED
        self.reason = f"the show began with another turn ({plan.why})"
        return self.reason

    def ended(self, heard: bool) -> str:
        """The greeting turn ended, with something ``heard`` or not; one not heard is asked
        again unless another turn went meanwhile or it was tried `GREETING_TRIES` times.
        Returns what happened to it, for the log."""
        if self.state is not GreetingState.ASKED:
            return ""
        if heard:
            self.state = GreetingState.SAID
            return ""
        if self._superseded or len(self.asked) >= GREETING_TRIES:
            self.state = GreetingState.SKIPPED
            self.reason = (f"nothing of it was heard (tried {len(self.asked)} times)"
                           if not self._superseded else "another turn went before it was heard")
            return f"no greeting: {self.reason}"
        self.state = GreetingState.WAITING
        return "the greeting was not heard: asked again"
