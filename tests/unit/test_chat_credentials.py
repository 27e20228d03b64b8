"""Secrets from env or file, clear errors naming what to set, and log redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bus.errors import CredentialError
from nodes.chat.credentials import RedactSecrets, bare_token, read_secret


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


def redactor(*secrets: str) -> RedactSecrets:
    redact = RedactSecrets()
    for secret in secrets:
        redact.add(secret)
    return redact


class TestEveryFormOfASecret:
    # (registered as, the line that must lose it, what the line becomes)
    @pytest.mark.parametrize(
        ("secret", "line", "clean"),
        [
            # issue 14 item 6: the token given as oauth:..., echoed bare by a server
            ("oauth:abcd1234token", "NOTICE * :bad auth abcd1234token", "NOTICE * :bad auth ***"),
            ("abcd1234token", "PASS OAUTH:abcd1234token", "PASS OAUTH:***"),
            ("oauth:abcd1234token", "shouted ABCD1234TOKEN", "shouted ***"),
            ("Bearer ya29.a0/Tok+en==", "GET /x?access_token=ya29.a0%2FTok%2Ben%3D%3D&part=s",
             "GET /x?access_token=***&part=s"),
            ("ya29.a0/Tok+en==", '{"token": "ya29.a0\\/Tok+en=="}', '{"token": "***"}'),
            ("AIzaKey-0123456789", "url https://h/v3/x?part=snippet&key=AIzaKey-0123456789",
             "url https://h/v3/x?part=snippet&key=***"),
        ],
    )
    def test_registered_secret(self, secret: str, line: str, clean: str) -> None:
        assert redactor(secret).scrub(line) == clean

    # secret-shaped text is redacted in logs even when its value was never registered
    @pytest.mark.parametrize(
        ("line", "clean"),
        [
            ("Authorization: Bearer ya29.unregistered", "Authorization: Bearer ***"),
            ("PASS oauth:unregistered0", "PASS oauth:***"),
            ("GET /v3/liveChat/messages?key=AIzaNew&part=snippet",
             "GET /v3/liveChat/messages?key=***&part=snippet"),
            ("headers {'X-goog-api-key': 'AIzaNew'}", "headers {'X-goog-api-key': '***'}"),
        ],
    )
    def test_secret_shapes(self, line: str, clean: str) -> None:
        assert redactor().scrub(line) == clean

    def test_published_text_loses_only_registered_secrets(self) -> None:
        redact = redactor("oauth:abcd1234token")
        assert redact.known("my oauth: is abcd1234token") == "my oauth: is ***"

    def test_tracebacks_and_stacks(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.handler.addFilter(redactor("oauth:abcd1234token"))
        log = logging.getLogger("test.redact.forms")
        try:
            raise ConnectionError("server said abcd1234token")
        except ConnectionError:
            log.exception("lost", stack_info=True)
        assert "abcd1234token" not in caplog.text
        assert "server said ***" in caplog.text

    @pytest.mark.parametrize("token", ["oauth:x1y2z3", "OAuth:x1y2z3", "Bearer x1y2z3",
                                       "x1y2z3"])
    def test_bare_token(self, token: str) -> None:
        assert bare_token(token) == "x1y2z3"
