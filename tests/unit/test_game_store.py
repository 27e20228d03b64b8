"""nodes.game.store: the save of the game in progress is written atomically, read back the
same, and an unreadable one is set aside (never deleted) and reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodes.game.store import KEPT_ASIDE, GameStore, SavedGame, default_state_dir

SAVED = SavedGame(kind="tictactoe", game_id="abc123", settings={"first": "X"},
                  players={"X": "mika", "O": "rook"}, ask=4, attempt=1,
                  last_error="cell 5 is taken", snapshot={"moves": [5, 1, 9]})


class TestSaveAndLoad:
    def test_round_trip(self, tmp_path: Path) -> None:
        store = GameStore(tmp_path / "game")
        assert store.load().saved is None  # nothing yet, no problem either
        store.save(SAVED)
        loaded = store.load()
        assert loaded.saved == SAVED and not loaded.problem

    def test_save_replaces_and_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        store = GameStore(tmp_path)
        store.save(SAVED)
        store.save(SavedGame(kind="race", game_id="x", ask=9))
        assert store.load().saved == SavedGame(kind="race", game_id="x", ask=9)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["current.json"]

    def test_a_crash_before_the_rename_keeps_the_old_save(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Killed between writing the new file and renaming it: the old save is whole."""
        store = GameStore(tmp_path)
        store.save(SAVED)

        def killed(src: object, dst: object) -> None:
            raise KeyboardInterrupt("killed mid-save")

        monkeypatch.setattr(os, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            store.save(SavedGame(kind="race", game_id="new"))
        monkeypatch.undo()
        assert store.load().saved == SAVED
        assert sorted(p.name for p in tmp_path.iterdir()) == ["current.json"]  # tmp gone

    def test_clear(self, tmp_path: Path) -> None:
        store = GameStore(tmp_path)
        store.save(SAVED)
        store.clear()
        store.clear()  # twice is fine
        assert store.load().saved is None

    def test_default_folder(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VT_DATA_DIR", str(tmp_path))
        assert default_state_dir() == tmp_path / "game"
        monkeypatch.delenv("VT_DATA_DIR")
        assert default_state_dir() == Path.home() / ".local/share/vtshow/game"


class TestCorrupt:
    # what is in current.json -> the words the problem must name
    @pytest.mark.parametrize(("content", "words"), [
        (b'{"kind": "tictactoe", "game_id": "abc", "ask": 4, "snap', "not a saved game"),  # cut
        (b"\x00\xff\xfe garbage", "not a saved game"),
        (b'{"kind": "tictactoe"}', "game_id"),                                # a field missing
        (b'{"kind": 5, "game_id": "x"}', "not a saved game"),                 # wrong type
        (b'{"kind": "x", "game_id": "y", "extra": 1}', "extra"),              # unknown field
        (b'{"version": 2, "kind": "x", "game_id": "y"}', "version 2"),
        (b"[]", "not a saved game"),
    ])
    def test_set_aside_and_said(self, tmp_path: Path, content: bytes, words: str) -> None:
        store = GameStore(tmp_path)
        store.path.write_bytes(content)
        loaded = store.load()
        assert loaded.saved is None and words in loaded.problem
        assert loaded.aside is not None and loaded.aside.read_bytes() == content  # kept
        assert not store.path.exists()
        assert store.load().problem == ""  # the next start finds nothing, quietly

    def test_unreadable_file(self, tmp_path: Path) -> None:
        store = GameStore(tmp_path)
        store.path.mkdir()  # a folder where the save should be: reading it fails
        loaded = store.load()
        assert "cannot read" in loaded.problem and loaded.aside is not None

    def test_only_the_last_ones_are_kept(self, tmp_path: Path) -> None:
        store = GameStore(tmp_path)
        for _ in range(KEPT_ASIDE + 3):
            store.path.write_bytes(b"junk")
            store.load()
        assert len(list(tmp_path.glob("current.bad-*.json"))) == KEPT_ASIDE
