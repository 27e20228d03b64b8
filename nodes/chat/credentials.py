"""Secrets from the environment or a file, and a logging filter that keeps them out of logs.

A secret never goes into a parameter value, a message or a log line: the node reads it
here, registers it with `redact`, and every log handler it installs gets `RedactSecrets`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bus.errors import CredentialError

__all__ = ["RedactSecrets", "install_redaction", "read_secret"]

REDACTED = "***"


def read_secret(env: str, file: str = "", *, what: str, file_param: str = "") -> str:
    """The secret in ``file`` when given, else in the environment variable ``env``.

    Raises
    ------
    CredentialError
        The file is missing or empty, or the variable is unset or empty; the message names
        what to provide.
    """
    if file:
        path = Path(file).expanduser()
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise CredentialError(f"{what}: cannot read {path} ({exc.strerror}); write the "
                                  f"secret there or set ${env} instead") from None
        if not value:
            raise CredentialError(f"{what}: {path} is empty; write the secret there")
        return value
    value = os.environ.get(env, "").strip()
    if not value:
        hint = f" or give the {file_param} parameter (a file holding it)" if file_param else ""
        raise CredentialError(f"{what}: set the environment variable {env}{hint}")
    return value


class RedactSecrets(logging.Filter):
    """Replaces every registered secret in a record's final message by ``***``."""

    def __init__(self) -> None:
        super().__init__("redact")
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        if len(secret) >= 4:  # redacting "a" would garble every line
            self.secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = message
        for secret in self.secrets:
            clean = clean.replace(secret, REDACTED)
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, REDACTED)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactSecrets()


def install_redaction(secret: str, *loggers: logging.Logger) -> RedactSecrets:
    """Register ``secret`` and filter the handlers of the root logger and of ``loggers``."""
    _FILTER.add(secret)
    for logger in (logging.getLogger(), *loggers):
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    return _FILTER
