"""The token file: user-only permissions, reuse, tightening, clearing."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from nodes.avatar.vts.tokens import TokenStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestTokenStore:
    def test_saved_user_only(self, tmp_path: Path) -> None:
        store = TokenStore(tmp_path / "cfg" / "aria.token")
        store.save("abc123")
        assert mode(store.path) == 0o600
        assert mode(store.path.parent) == 0o700
        assert store.load() == "abc123"

    def test_missing_is_none(self, tmp_path: Path) -> None:
        assert TokenStore(tmp_path / "nope.token").load() is None

    def test_wide_permissions_tightened_with_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "aria.token"
        path.write_text("secret-token\n")
        path.chmod(0o644)
        with caplog.at_level(logging.WARNING):
            assert TokenStore(path).load() == "secret-token"
        assert mode(path) == 0o600
        assert "permissions set to 0600" in caplog.text
        assert "secret-token" not in caplog.text  # never logged

    def test_clear(self, tmp_path: Path) -> None:
        store = TokenStore(tmp_path / "t")
        store.save("x")
        store.clear()
        assert store.load() is None
        store.clear()  # twice is fine

    def test_existing_wide_folder_tightened_on_save(self, tmp_path: Path) -> None:
        folder = tmp_path / "vts"
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)  # as another program (or an older version) left it
        TokenStore(folder / "aria.token").save("abc123")
        assert mode(folder) == 0o700

    def test_existing_wide_folder_tightened_on_load(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        folder = tmp_path / "vts"
        folder.mkdir()
        store = TokenStore(folder / "aria.token")
        store.save("secret-token")
        folder.chmod(0o755)
        with caplog.at_level(logging.WARNING):
            assert store.load() == "secret-token"
        assert mode(folder) == 0o700
        assert "set to 0700" in caplog.text
        assert "secret-token" not in caplog.text

    def test_damaged_file_means_no_token(self, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
        store = TokenStore(tmp_path / "aria.token")
        store.save("x")
        store.path.write_bytes(b"\xff\xfe garbage")
        with caplog.at_level(logging.WARNING):
            assert store.load() is None  # a new token is asked for, the session goes on
        assert "not ASCII" in caplog.text
