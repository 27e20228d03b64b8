"""Secrets from the environment or a file, and the redaction that keeps them out of logs,
``system/log`` and the messages the node publishes.

A secret never goes into a parameter value, a message or a log line: the node reads it
here, registers it with `install_redaction`, and every log handler it installs gets
`RedactSecrets`. A secret is redacted in every form it can take: as given, without (or
with any case of) its ``oauth:``/``Bearer`` prefix, URL-encoded, JSON-escaped, in any letter
case. Beyond the registered values, the shapes that carry secrets (``oauth:...``,
``Bearer ...``, ``key=``/``access_token=`` in a URL, an ``X-goog-api-key`` header) are
redacted in log lines whatever their value, in case a renewed token was never registered.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

from bus.errors import CredentialError

__all__ = ["RedactSecrets", "Secrets", "bare_token", "install_redaction", "read_secret"]

REDACTED = "***"
_MIN_SECRET = 4  # redacting "a" would garble every line
_PREFIX = re.compile(r"^\s*(?:oauth:|bearer\s+)", re.IGNORECASE)
_SHAPES = re.compile(
    r"(?P<lead>\boauth:"
    r"|\bbearer\s+"
    r"|[?&;]\s*(?:key|api_key|apikey|access_token|refresh_token|id_token|token|client_secret"
    r"|password|pass)="
    r"|\bx-goog-api-key[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"'&#,;}]+)",
    re.IGNORECASE,
)
"""Where a secret sits, whatever its value: the value is replaced, the lead kept."""


def bare_token(token: str) -> str:
    """``token`` without an ``oauth:`` or ``Bearer`` prefix in any letter case."""
    return _PREFIX.sub("", token).strip()


def read_secret(env: str, file: str = "", *, what: str, file_param: str = "",
                environ: Mapping[str, str] | None = None) -> str:
    """The secret in ``file`` when given, else in the environment variable ``env`` (of
    ``environ``, the process environment by default).

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
    value = (os.environ if environ is None else environ).get(env, "").strip()
    if not value:
        hint = f" or give the {file_param} parameter (a file holding it)" if file_param else ""
        raise CredentialError(f"{what}: set the environment variable {env}{hint}")
    return value


def _forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` a line could carry (matched in any letter case)."""
    core = bare_token(secret)
    forms = {secret.strip(), core, quote(core, safe=""), quote_plus(core),
             core.replace("/", "\\/")}
    return {form for form in forms if len(form) >= _MIN_SECRET}


class RedactSecrets(logging.Filter):
    """Replaces every registered secret (in every form) in a record by ``***``, and the
    values of secret-shaped text (``oauth:...``, ``Bearer ...``, ``key=...``)."""

    def __init__(self) -> None:
        super().__init__("redact")
        self.secrets: set[str] = set()
        self._known: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        forms = _forms(secret)
        if forms - self.secrets:
            self.secrets |= forms
            longest_first = sorted(self.secrets, key=len, reverse=True)
            self._known = re.compile("|".join(map(re.escape, longest_first)), re.IGNORECASE)

    def known(self, text: str) -> str:
        """``text`` with the registered secrets replaced (for published chat text, where a
        viewer's ``oauth:`` or ``Bearer`` is not a secret)."""
        return self._known.sub(REDACTED, text) if self._known is not None else text

    def scrub(self, text: str) -> str:
        """``text`` with the registered secrets and every secret-shaped value replaced."""
        return _SHAPES.sub(lambda m: m["lead"] + REDACTED, self.known(text))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as logging does
            return True
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
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


class Secrets:
    """Where chat sources get their tokens and keys: a file when its parameter names one,
    else an environment variable. Every secret read is registered for redaction
    (`install_redaction`) before anyone can log it.

    Parameters
    ----------
    environ:
        The environment to read (the process's by default).
    log:
        A logger whose handlers get the redaction too (the node's).
    """

    def __init__(self, environ: Mapping[str, str] | None = None,
                 log: logging.Logger | None = None):
        self.environ = os.environ if environ is None else environ
        self.loggers = [log] if log is not None else []
        self.redaction: RedactSecrets | None = None
        """Set once a secret is read: published chat text that quotes one is redacted."""

    def read(self, env: str, file: str = "", *, what: str, file_param: str = "") -> str:
        """The secret (see `read_secret`), registered for redaction."""
        secret = read_secret(env, file, what=what, file_param=file_param, environ=self.environ)
        self.redaction = install_redaction(secret, *self.loggers)
        return secret

    def rereader(self, env: str, file: str, *, what: str,
                 file_param: str = "") -> Callable[[], str] | None:
        """Reads the secret again (an outside tool may renew the file); None without a
        file, since a process's environment never changes."""
        if not file:
            return None
        return lambda: self.read(env, file, what=what, file_param=file_param)

    def variable(self, name: str) -> str:
        """An environment variable that is not a secret (a login), stripped; empty when
        unset."""
        return self.environ.get(name, "").strip()
