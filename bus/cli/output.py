"""Output for people and for pipes: rich tables and colour at a terminal, one JSON object per
line when piped or asked for with ``--json``."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

__all__ = ["Output", "to_plain"]


def to_plain(value: Any) -> Any:
    """Builtins for any msgspec Struct or container; bytes become base64 (as in JSON)."""
    return msgspec.to_builtins(value)


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
            sys.stdout.write(msgspec.json.encode(to_plain(obj)).decode() + "\n")
            sys.stdout.flush()
        else:
            self.console.print(obj)

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
            table.add_row(*(f"{cell:.1f}" if isinstance(cell, float) else str(cell)
                            for cell in row))
        self.console.print(table)

    def line(self, text: str) -> None:
        """A plain line of text (human mode) – markup allowed; ignored in JSON mode."""
        if not self.json:
            self.console.print(text)

    def error(self, text: str) -> None:
        """A message for the person, always on stderr."""
        self.err.print(f"[red]error:[/red] {text}")
