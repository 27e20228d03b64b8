"""The game in progress on disk: saved after every move, read back at start, so a node killed
mid-game (kill -9, a power cut) resumes the same game at the same move. Pure file IO.

A save is written to a temporary file, flushed to the disk (``fsync``) and renamed over the
old one, then the folder is synced: a crash leaves either the old save or the new one, never
half of one. A save that cannot be read (cut short by a full disk, edited by hand, from an
incompatible version) is renamed aside, never deleted, and `GameStore.load` says so; the
node then starts fresh and announces it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bus.files import replace_durably

__all__ = ["GameStore", "Loaded", "SavedGame", "default_state_dir"]

SAVE_NAME = "current.json"
KEPT_ASIDE = 10
"""Unreadable saves kept for a person to look at; older ones go (each is one game, and a
crash loop must not fill the disk)."""


def default_state_dir() -> Path:
    """``$VT_DATA_DIR/game``, else ``~/.local/share/vtshow/game``."""
    base = os.environ.get("VT_DATA_DIR") or Path.home() / ".local" / "share" / "vtshow"
    return Path(base) / "game"


class SavedGame(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the node needs to resume a game: which one, its settings and players, where the
    move stood, and the game's own `Game.snapshot`."""

    version: int = 1
    kind: str
    game_id: str
    settings: dict[str, Any] = {}
    players: dict[str, str] = {}
    ask: int = 0
    """How many moves were asked for so far (the ``move_id`` counter)."""
    attempt: int = 0
    last_error: str = ""
    snapshot: dict[str, Any] = {}


@dataclass(frozen=True)
class Loaded:
    """What `GameStore.load` found: a save, nothing, or a save it could not read (then
    ``problem`` says why and ``aside`` where the file went)."""

    saved: SavedGame | None = None
    problem: str = ""
    aside: Path | None = None


class GameStore:
    """The save of the game in progress, ``FOLDER/current.json``.

    Parameters
    ----------
    folder:
        Where it lives (made on the first save).
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / SAVE_NAME
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(SavedGame)

    def save(self, saved: SavedGame) -> None:
        """Replace the save with ``saved``, atomically and durably.

        Raises
        ------
        OSError
            The folder cannot be written (the caller logs it and plays on unsaved).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        replace_durably(self.path, self._encoder.encode(saved),
                        self.path.with_suffix(f".{os.getpid()}.tmp"))

    def load(self) -> Loaded:
        """The save, if there is one; an unreadable one is set aside (see `set_aside`).
        Temporary files of a save cut short by a crash are removed."""
        for stale in self.folder.glob("current.*.tmp"):
            stale.unlink(missing_ok=True)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Loaded()
        except OSError as exc:
            return self.set_aside(f"cannot read {self.path}: {exc.strerror or exc}")
        try:
            saved = self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self.set_aside(f"{self.path} is not a saved game: {exc}")
        if saved.version != 1:
            return self.set_aside(f"{self.path} is a version {saved.version} save; this "
                                  "node reads version 1")
        return Loaded(saved)

    def set_aside(self, problem: str) -> Loaded:
        """Rename the save to ``current.bad-STAMP.json`` (kept for a person to read) and say
        why; the next `load` finds nothing. Also for a save the game itself refused to
        restore."""
        aside = self.folder / f"current.bad-{time.time_ns()}.json"
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            return Loaded(problem=f"{problem}; it could not be moved aside either: {exc}")
        for old in sorted(self.folder.glob("current.bad-*.json"))[:-KEPT_ASIDE]:
            old.unlink(missing_ok=True)
        return Loaded(problem=problem, aside=aside)

    def clear(self) -> None:
        """The game is over (or stopped): nothing to resume."""
        self.path.unlink(missing_ok=True)
