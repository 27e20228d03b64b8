"""Games: state and events in, commands out, screen frames for watch mode."""

from __future__ import annotations

from typing import Any

from messages.base import Message

__all__ = ["GameCommand", "GameEvent", "GameFrame", "GameState"]


class GameState(Message, tag="game.GameState"):
    game: str
    state: dict[str, Any] = {}


class GameEvent(Message, tag="game.GameEvent"):
    game: str
    event: str
    data: dict[str, Any] = {}


class GameCommand(Message, tag="game.GameCommand"):
    game: str
    command: str
    arguments: dict[str, Any] = {}
    call_id: str = ""


class GameFrame(Message, tag="game.GameFrame"):
    """A screen grab: encoded image bytes (``png`` or ``jpeg``)."""

    width: int
    height: int
    data: bytes
    encoding: str = "jpeg"
