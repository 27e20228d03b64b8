"""Chat's vote on a move: one window, one vote per viewer (the latest counts), only legal
choices counted, bounded against floods. Pure logic: the caller passes the clock.

A viewer writes what they want (``!move e4``, ``!vote 5``, ``!answer b``); `choice_of` reads
it against the mover's legal actions: a listed option by its value(s) (``e4``, ``5``) or
by action name and value (``drop 3``), or another spelling the game's ``normalize`` maps to
one (``e2e4``), or, for an action whose choices cannot be listed, a single value checked
against the action's JSON schema. Anything else is refused with the
reason and a few legal choices, for the node to answer and count.

The window remembers at most ``max_voters`` distinct viewers: a flood of new accounts is
counted as turned away instead of growing the table. The result is the choice with the
most votes, ties going to the one the game ranks higher.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import exceptions as schema_errors
from jsonschema import validators

from messages.game import ActionOption, GameAction

__all__ = [
    "Cast", "Choice", "Refused", "VoteResult", "VoteWindow", "Voting", "choice_of",
    "ranked_options",
]

MAX_TEXT = 100
"""Characters of a vote that are read (a vote is a word or two; a wall of text is not)."""
MAX_VOTER_ID = 200
SHOWN_CHOICES = 8
"""Legal choices named in a refusal."""
UNRANKED = 1 << 30
"""Rank of a choice the game did not list (a free value): after every listed one."""

Normalize = Callable[[str, dict[str, Any]], object]
"""A game's ``normalize(action, arguments)``: the spelling its options use for a call."""
CastOutcome = Literal["counted", "changed", "same", "illegal", "turned_away", "closed"]


@dataclass(frozen=True)
class Choice:
    """One legal call chat can vote for."""

    name: str
    arguments: dict[str, Any]
    label: str
    """How chat writes it ("e4", "5")."""
    rank: int = UNRANKED
    """Its place in the game's ranking, 0 best."""

    @property
    def key(self) -> str:
        return f"{self.name} {json.dumps(self.arguments, sort_keys=True, default=str)}"


@dataclass(frozen=True)
class Refused:
    """A vote that names no legal choice, and why (for the reply to the viewer)."""

    reason: str


class Voting:
    """The legal choices of one move, read once, matched against what viewers write."""

    def __init__(self, actions: Sequence[GameAction], normalize: Normalize | None = None):
        self.actions = list(actions)
        self.normalize = normalize
        self.listed: dict[str, Choice] = {}
        """Every way of writing a listed option -> its choice (the best ranked on a clash)."""
        self._single: list[tuple[GameAction, str, Any]] = []
        """Actions of one argument: (action, argument, schema validator or None when the
        legal values are listed)."""
        for rank, (action, option) in enumerate(ranked_options(self.actions)):
            label = _label(option.arguments)
            choice = Choice(action.name, dict(option.arguments), label or action.name, rank)
            for written in (label, f"{action.name} {label}".strip()):
                if written:  # an option without arguments is voted by its action's name
                    self.listed.setdefault(written.casefold(), choice)
        for action in self.actions:
            argument = _single_argument(action.schema)
            if argument is not None:
                validator = None if action.options else validators.validator_for(
                    action.schema)(action.schema)
                self._single.append((action, argument, validator))
        self.examples = list(dict.fromkeys(c.label for c in self.listed.values()))

    def choice_of(self, text: str) -> Choice | Refused:
        """The legal choice ``text`` names, or why it names none."""
        wanted = " ".join(text[:MAX_TEXT].split())
        found = self.listed.get(wanted.casefold())
        if found is not None:
            return found
        why = f"{wanted!r} is not a legal choice" if wanted else "no choice given"
        for action, argument, validator in self._single if wanted else ():
            value = wanted
            first, _, rest = wanted.partition(" ")
            if rest and first.casefold() == action.name.casefold():
                value = rest
            written = {argument: _typed(value, action.schema["properties"][argument])}
            arguments: object = written
            if self.normalize is not None:  # another spelling of a legal choice (e2e4 for e4)
                try:
                    arguments = self.normalize(action.name, written)
                except (ValueError, TypeError, KeyError):  # a spelling it cannot read
                    continue
            if not isinstance(arguments, dict):
                continue
            if validator is None:
                found = self.listed.get(f"{action.name} {_label(arguments)}".casefold())
                if found is not None:
                    return found
                continue
            try:
                validator.validate(arguments)
            except schema_errors.ValidationError as exc:
                why = f"{wanted!r} is not a legal {action.name}: {exc.message[:120]}"
                continue
            return Choice(action.name, arguments, value)
        shown = ", ".join(self.examples[:SHOWN_CHOICES])
        more = ", ..." if len(self.examples) > SHOWN_CHOICES else ""
        return Refused(f"{why}; legal: {shown}{more}" if shown else why)


def ranked_options(actions: Sequence[GameAction]) -> list[tuple[GameAction, ActionOption]]:
    """Every listed option, the game's best first: higher score first, equal scores in the
    game's own order (options come best first)."""
    listed = [(action, option) for action in actions for option in action.options]
    order = sorted(range(len(listed)), key=lambda i: (-listed[i][1].score, i))
    return [listed[i] for i in order]


def choice_of(text: str, actions: Sequence[GameAction]) -> Choice | Refused:
    """`Voting.choice_of` for one text (a window reads its actions once instead)."""
    return Voting(actions).choice_of(text)


@dataclass(frozen=True)
class Cast:
    """What one vote did: ``counted`` (a new voter), ``changed`` (their latest choice now
    counts), ``same``, ``illegal`` (``reason`` says why), ``turned_away`` (the window is full),
    ``closed``."""

    outcome: CastOutcome
    choice: Choice | None = None
    reason: str = ""


@dataclass(frozen=True)
class VoteResult:
    """How a window ended."""

    counts: list[tuple[Choice, int]]
    """Every choice with votes, the winner first (most votes, then the game's ranking)."""
    voters: int
    """Viewers whose vote counts."""
    illegal: int
    """Votes refused as not legal."""
    turned_away: int
    """Votes of viewers past ``max_voters``."""
    changed: int
    """Votes replaced by the same viewer's later one."""

    @property
    def winner(self) -> Choice | None:
        return self.counts[0][0] if self.counts else None

    def summary(self) -> str:
        """A line for chat and the personas: "chat chose e4 (12 of 20 votes)"."""
        if self.winner is None:
            return "nobody voted"
        votes = self.counts[0][1]
        return f"chat chose {self.winner.label} ({votes} of {self.voters} votes)"

    def data(self, top: int = 10) -> dict[str, Any]:
        """For ``game/event``: the leading counts, turnout and what was refused."""
        return {"counts": {c.label: n for c, n in self.counts[:top]},
                "choices": len(self.counts), "voters": self.voters,
                "winner": self.winner.label if self.winner else "",
                "illegal": self.illegal, "turned_away": self.turned_away,
                "changed": self.changed}


class VoteWindow:
    """One vote on chat's move.

    Parameters
    ----------
    actions:
        The mover's legal actions (`GameState.actions`), options ranked best first.
    opened_at, duration_s:
        When it opened and for how long it takes votes, on the caller's clock.
    max_voters:
        Distinct viewers remembered; the votes of later ones are counted, not kept.
    normalize:
        The game's ``normalize``, when it accepts other spellings of its choices.
    """

    def __init__(self, actions: Sequence[GameAction], *, opened_at: float, duration_s: float,
                 max_voters: int, normalize: Normalize | None = None):
        self.voting = Voting(actions, normalize)
        self.closes_at = opened_at + duration_s
        self.max_voters = max_voters
        self._ballots: dict[str, Choice] = {}
        """voter -> their latest legal choice (at most ``max_voters``)"""
        self._counts: dict[str, int] = {}
        """choice key -> votes (never more keys than ballots)"""
        self._first_seen: dict[str, int] = {}
        """choice key -> order of its first vote, to order unranked ties"""
        self._order = itertools.count()
        self.illegal = 0
        self.turned_away = 0
        self.changed = 0

    def is_open(self, now: float) -> bool:
        return now < self.closes_at

    def cast(self, voter: str, text: str, now: float) -> Cast:
        """``voter`` (``platform:user_id``) votes ``text``."""
        if not self.is_open(now):
            return Cast("closed")
        voter = voter[:MAX_VOTER_ID]
        found = self.voting.choice_of(text)
        if isinstance(found, Refused):
            self.illegal += 1
            return Cast("illegal", reason=found.reason)
        earlier = self._ballots.get(voter)
        if earlier is None and len(self._ballots) >= self.max_voters:
            self.turned_away += 1
            return Cast("turned_away", found)
        if earlier is not None and earlier.key == found.key:
            return Cast("same", found)
        if earlier is not None:
            self._uncount(earlier)
            self.changed += 1
        self._ballots[voter] = found
        self._counts[found.key] = self._counts.get(found.key, 0) + 1
        if found.key not in self._first_seen:
            self._first_seen[found.key] = next(self._order)
        return Cast("changed" if earlier is not None else "counted", found)

    def ballots(self) -> dict[str, Choice]:
        """voter -> the choice that counts (trivia scores each viewer's answer)."""
        return dict(self._ballots)

    def result(self) -> VoteResult:
        by_key = {c.key: c for c in self._ballots.values()}
        ranked = sorted(self._counts.items(), key=lambda item: (
            -item[1], by_key[item[0]].rank, self._first_seen[item[0]]))
        return VoteResult(counts=[(by_key[k], n) for k, n in ranked],
                          voters=len(self._ballots), illegal=self.illegal,
                          turned_away=self.turned_away, changed=self.changed)

    def _uncount(self, choice: Choice) -> None:
        left = self._counts[choice.key] - 1
        if left:
            self._counts[choice.key] = left
        else:
            del self._counts[choice.key]
            del self._first_seen[choice.key]


def _label(arguments: dict[str, Any]) -> str:
    return " ".join(str(v) for v in arguments.values())


def _single_argument(schema: dict[str, Any]) -> str | None:
    """The one argument of an action a viewer can give as one value, if it has exactly one."""
    properties = schema.get("properties")
    if isinstance(properties, dict) and len(properties) == 1:
        return str(next(iter(properties)))
    return None


def _typed(text: str, schema: dict[str, Any]) -> Any:
    """``text`` as the type ``schema`` wants (a number written in chat is a string)."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean" and text.casefold() in ("true", "false", "yes", "no"):
        return text.casefold() in ("true", "yes")
    return text
