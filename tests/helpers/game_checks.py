"""Checks every game of `nodes.game.games` must pass, shared by their test modules: a call
applied without an event loop of the test's own, refusals that change nothing, snapshots
that restore the very same game, options that fit their schema."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

import jsonschema
import msgspec

from nodes.game.games import GameHooks, Result

__all__ = ["apply_now", "assert_options_fit", "assert_refused", "assert_restores", "picture",
           "play_picks"]

_runner = asyncio.Runner()
"""One loop for every synchronous call (hypothesis examples apply thousands of moves)."""


def apply_now(game: Any, actor: str, name: str, arguments: Any) -> Result:
    """``game.apply(...)`` run to its end from synchronous code."""
    result: Result = _runner.run(game.apply(actor, name, arguments))
    return result


def picture(game: Any) -> dict[str, Any]:
    """Everything a game shows, as plain data: equal pictures are the same game to anyone."""
    outcome = game.outcome()
    return {"view": game.view(), "turn": game.turn(), "history": game.history(),
            "text": game.describe(), "players": game.players(),
            "actions": msgspec.to_builtins(game.actions()),
            "outcome": None if outcome is None else (outcome.text, outcome.winners, outcome.losers,
                                                     outcome.scores),
            "snapshot": game.snapshot()}


def assert_restores(game: Any, settings: msgspec.Struct) -> Any:
    """The game's snapshot, through JSON as a store keeps it, restores to the same picture;
    the restored game is returned."""
    saved = msgspec.json.decode(msgspec.json.encode(game.snapshot()))
    restored = type(game).restore(settings, saved, GameHooks())
    assert picture(restored) == picture(game)
    return restored


def assert_options_fit(game: Any) -> None:
    """Every listed option is legal under its action's schema, and the schema's ``enum``
    lists exactly the options, once each."""
    for action in game.actions():
        jsonschema.Draft202012Validator.check_schema(action.schema)
        validator = jsonschema.Draft202012Validator(action.schema)
        for option in action.options:
            validator.validate(option.arguments)
        for field, spec in action.schema["properties"].items():
            if "enum" in spec:
                listed = [option.arguments[field] for option in action.options]
                assert spec["enum"] == listed and len(set(listed)) == len(listed)
        scores = [option.score for option in action.options]
        assert scores == sorted(scores, reverse=True), "options come best first"


def assert_refused(game: Any, actor: str, name: str, arguments: Any, match: str) -> Result:
    """The call is refused with a message matching ``match`` and the game is unchanged."""
    before = picture(game)
    result = apply_now(game, actor, name, arguments)
    assert not result.ok, result.message
    assert re.search(match, result.message), result.message
    assert picture(game) == before
    return result


def play_picks(game: Any, picks: Iterable[int]) -> list[Result]:
    """Apply, for each pick, the option at that index (modulo their number) of the mover's
    first action, until the picks run out or the game ends."""
    results = []
    for pick in picks:
        actions = game.actions()
        if not actions:
            break
        options = actions[0].options
        option = options[pick % len(options)]
        result = apply_now(game, game.turn(), actions[0].name, option.arguments)
        assert result.ok, result.message
        results.append(result)
    return results

