"""What the server knows of each connected game, and the queue of moves they ask for.

Pure bookkeeping, no sockets: a `GameSession` per connection (its registered actions,
checked once, and the recent things it told us), `ForceQueue` (the games' ``actions/force``
requests, one at a time across every game, oldest first). Every table here is keyed by
outside input and bounded by `Limits`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nodes.game.neuro.protocol import Action, ForceData
from nodes.game.neuro.schema import CheckedSchema, SchemaRefused, check_schema, listed_choices

__all__ = ["Force", "ForceQueue", "GameSession", "Limits", "RegisteredAction", "clip"]

MAX_NAME_CHARS = 100
"""An action name longer than this is refused (spec names are a few words)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one game may make us keep."""

    max_actions: int = 64
    """Registered actions per game; more are refused."""
    max_text_chars: int = 2000
    """A context message, a force's state or query, a description: longer is cut."""
    max_schema_chars: int = 16000
    """A schema larger than this as JSON is refused."""
    context_lines: int = 12
    """Recent context messages kept per game for the player's prompt."""


def clip(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters with a visible mark, and how many were cut."""
    if len(text) <= limit:
        return text, 0
    cut = len(text) - limit
    return f"{text[:limit]} …[{cut} characters cut]", cut


@dataclass(frozen=True)
class RegisteredAction:
    name: str
    description: str
    checked: CheckedSchema
    choices: tuple[dict[str, Any], ...]
    """Every legal argument object when the schema lists them (an enum); else empty."""


class GameSession:
    """One game on one connection: named by its first message's ``game``."""

    def __init__(self, title: str, limits: Limits):
        self.title = title
        self.limits = limits
        self.actions: dict[str, RegisteredAction] = {}
        self.context: deque[str] = deque(maxlen=limits.context_lines)
        self.started = False
        """Whether it sent ``startup`` (if not, we may have missed its registrations)."""

    def startup(self) -> None:
        """The game (re)started: every action it registered before is gone (spec)."""
        self.started = True
        self.actions.clear()

    def register(self, actions: list[Action]) -> list[str]:
        """Register ``actions``; an already registered name is ignored (spec). Returns a line
        per action refused or ignored, saying why."""
        notes = []
        for action in actions:
            if not action.name or len(action.name) > MAX_NAME_CHARS:
                notes.append(f"refused an action named {action.name[:MAX_NAME_CHARS]!r}: "
                             f"a name is 1-{MAX_NAME_CHARS} characters")
            elif action.name in self.actions:
                notes.append(f"ignored {action.name!r}: already registered (the spec keeps "
                             "the first)")
            elif len(self.actions) >= self.limits.max_actions:
                notes.append(f"refused {action.name!r}: {self.limits.max_actions} actions "
                              "registered already (max_actions)")
            else:
                try:
                    checked = check_schema(action.schema, self.limits.max_schema_chars)
                except SchemaRefused as exc:
                    notes.append(f"refused {action.name!r}: {exc}")
                    continue
                description, _ = clip(action.description, self.limits.max_text_chars)
                self.actions[action.name] = RegisteredAction(
                    action.name, description, checked, tuple(listed_choices(checked)))
        return notes

    def unregister(self, names: list[str]) -> None:
        for name in names:
            self.actions.pop(name, None)

    def remember(self, line: str) -> None:
        """Keep a context line (the oldest goes when there are ``context_lines``)."""
        self.context.append(line)


@dataclass(eq=False)
class Force:
    """A game asking the player to choose one of ``action_names`` now."""

    session: GameSession
    data: ForceData
    action_names: list[str]
    """The forced names that are registered (the others were dropped with a log line)."""
    received_ns: int
    """When its frame arrived (``time.perf_counter_ns``)."""
    offered_ns: int = 0
    """When the player was last told it is its move (first offer, or after a refusal)."""
    attempts: int = 0
    """Calls refused so far (by the schema or by the game)."""
    in_flight: bool = False
    """An ``action`` for it is waiting for its ``action/result``."""


class ForceQueue:
    """Pending forces across every game, oldest first, at most one per game: a game forcing
    again while its force waits replaces it in its place in the queue (its state moved on;
    the spec calls two at once a problem)."""

    def __init__(self) -> None:
        self._forces: dict[GameSession, Force] = {}

    def put(self, force: Force) -> Force | None:
        """Queue ``force``; returns the one of the same game it replaced."""
        replaced = self._forces.get(force.session)
        self._forces[force.session] = force
        return replaced

    def head(self) -> Force | None:
        """The force being played now."""
        return next(iter(self._forces.values()), None)

    def of(self, session: GameSession) -> Force | None:
        """``session``'s queued force."""
        return self._forces.get(session)

    def finish(self, force: Force) -> bool:
        """Remove ``force`` if it is still queued (not replaced meanwhile)."""
        if self._forces.get(force.session) is force:
            del self._forces[force.session]
            return True
        return False

    def __len__(self) -> int:
        return len(self._forces)

    def __iter__(self) -> Iterator[Force]:
        return iter(list(self._forces.values()))
