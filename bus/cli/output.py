"""Output for people and for pipes: rich tables and colour at a terminal, one JSON object per
line when piped or asked for with ``--json``.

Values come from outside (a viewer's name, a node's name): at a terminal they are shown with
their control characters spelled out and never read as rich markup; in JSON every control
character is a ``\\u`` escape (`bus.text`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bus.text import escape_control, json_safe

__all__ = ["Output", "plain", "to_plain"]


def to_plain(value: Any) -> Any:
    """Builtins for any msgspec Struct or container; bytes become base64 (as in JSON)."""
    return msgspec.to_builtins(value)


def plain(text: object) -> str:
    """Outside text to put inside a markup line: no control characters, no markup."""
    return escape(escape_control(str(text)))


def _shown(value: Any) -> Any:
    """What rich prints for ``value``: text as written (escaped), anything else pretty-printed
    (its repr escapes control characters itself)."""
    return Text(escape_control(value)) if isinstance(value, str) else value


class Output:
    """Where a command writes its results.

    Parameters
    ----------
    json_mode:
        True forces JSON lines, False forces human output, None picks by whether stdout is a
        terminal.
    """

    def __init__(self, json_mode: bool | None = None):
        self.json = (not sys.stdout.isatty()) if json_mode is None else json_mode
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def record(self, obj: Any) -> None:
        """One result: a JSON line, or a pretty dump."""
        if self.json:
            sys.stdout.write(json_safe(msgspec.json.encode(to_plain(obj)).decode()) + "\n")
            sys.stdout.flush()
        else:
            self.show(obj)

    def show(self, value: Any) -> None:
        """A value for people, whatever it holds (see `_shown`)."""
        self.console.print(_shown(value))

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
              title: str | None = None) -> None:
        """Rows as a table, or one JSON object per row keyed by column name."""
        rows = list(rows)
        if self.json:
            for row in rows:
                self.record(dict(zip(columns, row, strict=True)))
            return
        table = Table(title=title, header_style="bold cyan")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(Text(f"{cell:.1f}" if isinstance(cell, float)
                                 else escape_control(str(cell))) for cell in row))
        self.console.print(table)

    def line(self, text: str) -> None:
        """A plain line of text (human mode) – markup allowed; ignored in JSON mode."""
        if not self.json:
            self.console.print(text)

    def error(self, text: str) -> None:
        """A message for the person, always on stderr, on one line (scripts grep it; rich
        would wrap it at 80 columns when stderr is not a terminal)."""
        self.err.print(f"[red]error:[/red] {plain(text)}", soft_wrap=True)
