"""Secrets from env or file, clear errors naming what to set, and log redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bus.errors import CredentialError
from nodes.chat.credentials import RedactSecrets, read_secret


class TestReadSecret:
    def test_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TEST_CHAT_TOKEN", "  abc123 \n")
        assert read_secret("TEST_CHAT_TOKEN", what="twitch") == "abc123"

    def test_file_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("TEST_CHAT_TOKEN", "from-env")
        path = tmp_path / "token"
        path.write_text("from-file\n")
        assert read_secret("TEST_CHAT_TOKEN", str(path), what="twitch") == "from-file"

    def test_missing_env_names_the_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("TEST_CHAT_TOKEN", raising=False)
        with pytest.raises(CredentialError, match="twitch: set the environment variable "
                           "TEST_CHAT_TOKEN or give the twitch_token_file parameter"):
            read_secret("TEST_CHAT_TOKEN", what="twitch", file_param="twitch_token_file")

    def test_missing_file_names_the_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope"
        with pytest.raises(CredentialError, match=f"cannot read {missing}"):
            read_secret("TEST_CHAT_TOKEN", str(missing), what="twitch")

    def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "empty"
        path.write_text("\n")
        with pytest.raises(CredentialError, match="is empty"):
            read_secret("TEST_CHAT_TOKEN", str(path), what="twitch")


class TestRedaction:
    def test_secret_never_reaches_the_output(self, caplog: pytest.LogCaptureFixture) -> None:
        redact = RedactSecrets()
        redact.add("hunter2-token")
        caplog.handler.addFilter(redact)
        log = logging.getLogger("test.redact")
        log.warning("PASS oauth:%s sent", "hunter2-token")
        try:
            raise RuntimeError("bad token hunter2-token")
        except RuntimeError:
            log.exception("failed")
        assert "hunter2-token" not in caplog.text
        assert "PASS oauth:*** sent" in caplog.text

    def test_short_values_are_not_redacted(self) -> None:
        redact = RedactSecrets()
        redact.add("ab")
        assert redact.secrets == set()
