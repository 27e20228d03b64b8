"""What every game here checks the same way: a call's arguments against the action's JSON
schema (refused in words a player can act on), and, for games of sides taking turns (the
board games, trivia's host and chat), whose turn it is, calls after the end, the history.

A game raises `Refusal` from its own rules; `TurnGame.apply` turns it into a refused
`Result`. Games check everything before they change anything, so a refused call leaves the
position exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, ClassVar, TypeVar

import jsonschema
import msgspec

from bus.text import escape_control
from nodes.game.games import GameError, GameHooks, Outcome, Result

__all__ = [
    "Refusal",
    "TurnGame",
    "check_call",
    "load_snapshot",
    "object_schema",
    "show",
    "word_list",
]

S = TypeVar("S", bound=msgspec.Struct)

SHOWN_CHARS = 40
"""How much of a value from outside a refusal quotes (a viewer's 2 kB "move" is not repeated)."""


class Refusal(Exception):
    """A call the rules do not allow; the message says why and what is legal."""


def show(value: object) -> str:
    """``value`` as a refusal quotes it: its repr, controls escaped, cut at `SHOWN_CHARS`."""
    text = escape_control(repr(value))
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def word_list(items: list[Any], limit: int = 12) -> str:
    """``"1, 3, 9"``; past ``limit`` items ``"e4, d4, ... (20 in all)"``."""
    words = [str(item) for item in items]
    if len(words) <= limit:
        return ", ".join(words)
    return f"{', '.join(words[:limit])}... ({len(words)} in all)"


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """The JSON schema of an action's arguments: exactly these properties, no others."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False}


_TYPE_WORDS = {"integer": "a whole number", "string": "text", "number": "a number",
               "boolean": "true or false", "object": "an object", "array": "a list"}


@lru_cache(maxsize=64)
def _validator(schema_json: bytes) -> jsonschema.protocols.Validator:
    # a schema changes with every move; the cache saves rebuilding it for the calls that
    # check one position several times (a vote's many calls, a retry)
    schema = msgspec.json.decode(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def check_call(name: str, schema: dict[str, Any], arguments: object,
               not_legal: Callable[[str, Any], str]) -> str | None:
    """Why ``arguments`` do not fit ``schema`` (None when they do).

    A value outside an ``enum`` (the legal choices) is explained by the game:
    ``not_legal(field, value)`` ("cell 5 is taken; free: 1, 3, 9"); the other failures in
    plain words ("cell must be a whole number, got 'five'").
    """
    properties: dict[str, Any] = schema.get("properties", {})
    if not isinstance(arguments, dict):
        return f"{name} takes its arguments as an object ({', '.join(properties)}), got {show(arguments)}"
    error = jsonschema.exceptions.best_match(
        _validator(msgspec.json.encode(schema)).iter_errors(arguments))
    if error is None:
        return None
    field = str(error.path[0]) if error.path else ""
    if error.validator == "enum" and field:
        return not_legal(field, error.instance)
    if error.validator == "required":
        missing = [key for key in schema.get("required", []) if key not in arguments]
        return f"{name} needs {', '.join(missing)}"
    if error.validator == "additionalProperties":
        extra = [show(key) for key in arguments if key not in properties]
        return f"{name} takes only {', '.join(properties) or 'no arguments'}; not {', '.join(extra)}"
    if error.validator == "type" and field:
        wanted = _TYPE_WORDS.get(str(error.validator_value), str(error.validator_value))
        return f"{field} must be {wanted}, got {show(error.instance)}"
    return f"{name}: {field + ': ' if field else ''}{escape_control(error.message)[:120]}"


def load_snapshot(struct: type[S], snapshot: Mapping[str, Any], kind: str) -> S:
    """``snapshot`` as ``struct``, or a `GameError` saying the saved game is unusable."""
    try:
        return msgspec.convert(dict(snapshot), struct)
    except (msgspec.ValidationError, TypeError) as exc:
        raise GameError(f"{kind}: the saved game does not restore: {exc}") from None


class TurnGame:
    """Sides taking turns (tic-tac-toe, connect four and chess; trivia's host and chat): the
    checks every such game makes before its own rules, and the history.

    A subclass gives `sides`, `title`, `kind` and implements `_mover`, `_schemas`,
    `_not_legal`, `_play` (apply a checked call, raise `Refusal` or return what happened)
    and `_winner`; it may override `normalize` to accept loose spellings.
    """

    kind: ClassVar[str]
    title: ClassVar[str]
    """The game's name in sentences ("tic-tac-toe")."""
    sides: ClassVar[tuple[str, ...]]
    optional_sides: ClassVar[tuple[str, ...]] = ()
    """Sides a game may be given or not (trivia's ``cohost``)."""

    def __init__(self, players: Mapping[str, str], hooks: GameHooks | None = None):
        known = (*self.sides, *self.optional_sides)
        if (not set(self.sides) <= set(players) <= set(known)
                or not all(isinstance(who, str) and who for who in players.values())):
            optional = f" (and maybe {', '.join(self.optional_sides)})" if self.optional_sides else ""
            raise GameError(f"{self.kind} players: need {' and '.join(self.sides)}{optional} (side -> "
                            f"persona or chat), got {show(dict(players))}")
        self._players = {side: players[side] for side in known if side in players}
        self._hooks = hooks or GameHooks()
        self._history: list[str] = []

    # --- what a subclass implements -------------------------------------------------------

    def _mover(self) -> str:
        """The side to move (the game may be over: `outcome` says)."""
        raise NotImplementedError

    def _schemas(self) -> dict[str, dict[str, Any]]:
        """action name -> schema of its legal calls now (cheap: no ranking)."""
        raise NotImplementedError

    def _not_legal(self, name: str, field: str, value: Any) -> str:
        """Why ``value`` is not a legal ``field`` of ``name`` now, and what is."""
        raise NotImplementedError

    def _play(self, name: str, arguments: dict[str, Any]) -> str:
        """Apply a call that fits the schema; what happened ("X at 5")."""
        raise NotImplementedError

    def _winner(self) -> tuple[str | None, str] | None:
        """None while the game goes on; else (winning side or None for a draw, how)."""
        raise NotImplementedError

    # --- the Game protocol -----------------------------------------------------------------

    def players(self) -> dict[str, str]:
        return dict(self._players)

    def _other_side(self, side: str) -> str:
        """The side that is not ``side``."""
        return next(other for other in self.sides if other != side)

    def turn(self) -> str:
        return "" if self._winner() is not None else self._players[self._mover()]

    def history(self) -> list[str]:
        return list(self._history)

    def normalize(self, name: str, arguments: object) -> object:
        """``arguments`` in the spelling the schema lists (chess: ``e2e4`` -> ``e4``); the
        game node may use it to count chat's votes for one move together."""
        return arguments

    async def apply(self, actor: str, name: str, arguments: dict[str, Any]) -> Result:
        try:
            return Result(True, self._apply(actor, name, arguments))
        except Refusal as refusal:
            return Result(False, str(refusal))

    def _apply(self, actor: str, name: str, arguments: object) -> str:
        if (outcome := self.outcome()) is not None:
            raise Refusal(f"the game is over ({outcome.text}); no more moves")
        side = self._mover()
        if actor != self._players[side]:
            actor = escape_control(str(actor))[:SHOWN_CHARS]
            raise Refusal(f"it is {self._players[side]}'s turn ({side}), not {actor}'s")
        schemas = self._schemas()
        if name not in schemas:
            raise Refusal(f"there is no action {show(name)}; legal now: {', '.join(schemas)}")
        arguments = self.normalize(name, arguments)
        refusal = check_call(name, schemas[name], arguments,
                             lambda field, value: self._not_legal(name, field, value))
        if refusal is not None:
            raise Refusal(refusal)
        assert isinstance(arguments, dict)  # check_call refuses anything else
        done = self._play(name, arguments)
        self._history.append(f"{actor}: {done}")
        return done

    def outcome(self) -> Outcome | None:
        ended = self._winner()
        if ended is None:
            return None
        winner, how = ended
        named = {side: f"{who} ({side})" for side, who in self._players.items()}
        how = f" {how}" if how else ""
        if winner is None:
            first, second = (named[side] for side in self.sides)
            return Outcome(f"{self.title} between {first} and {second} was a draw{how}")
        loser = self._other_side(winner)
        return Outcome(f"{named[winner]} won {self.title} against {named[loser]}{how}",
                       winners=[self._players[winner]], losers=[self._players[loser]])

    def _replay(self, calls: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Play saved calls again (each by whoever was to move), or a `GameError` naming the
        first that the rules refuse."""
        for number, (name, arguments) in enumerate(calls, 1):
            try:
                self._apply(self.turn(), name, arguments)
            except Refusal as refusal:
                raise GameError(f"{self.kind}: saved move {number} ({name} {show(arguments)}) does "
                                f"not replay: {refusal}") from None

    async def aclose(self) -> None:
        """Nothing to release: the game lives in memory."""
