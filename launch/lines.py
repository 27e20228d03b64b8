"""Where a field of a TOML file is: the line of each table and key, by path, so that an error
about ``$.node[2].module`` (msgspec's location) names ``file:line``."""

from __future__ import annotations

import re

__all__ = ["LineIndex", "PathKey", "error_path"]

PathKey = tuple[str | int, ...]
"""A field's path: ``("node", 2, "module")``."""

_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_KEY = re.compile(rf"\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")
_ERROR_AT = re.compile(r"at `\$([^`]*)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")


def _key_parts(dotted: str) -> list[str]:
    return [p.strip("\"'") for p in re.findall(_KEY_PART, dotted)]


class LineIndex:
    """The line of every table and key of a TOML text, by path (``("node", 2, "module")``).

    A small scanner, not a TOML parser: good for the tables and ``key =`` lines launch files
    hold; a key inside an inline table maps to the line of the table's key.
    """

    def __init__(self, text: str):
        self.lines: dict[PathKey, int] = {}
        array_sizes: dict[PathKey, int] = {}
        current: PathKey = ()
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_multiline:
                in_multiline = quotes % 2 == 0
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                resolved: list[str | int] = []
                for part in _key_parts(header.group(2)):
                    resolved.append(part)
                    if tuple(resolved) in array_sizes:
                        resolved.append(array_sizes[tuple(resolved)] - 1)
                if header.group(1) == "[[":
                    # the last part was just extended with the previous element's index
                    if isinstance(resolved[-1], int):
                        resolved.pop()
                    table = tuple(resolved)
                    array_sizes[table] = array_sizes.get(table, 0) + 1
                    self.lines.setdefault(table, number)
                    resolved.append(array_sizes[table] - 1)
                current = tuple(resolved)
                self.lines.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                self.lines.setdefault((*current, *_key_parts(key.group(1))), number)
            in_multiline = quotes % 2 == 1

    def line_of(self, path: PathKey) -> int | None:
        """The line of ``path``, or of its nearest enclosing table or key that has one."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def error_path(message: str) -> PathKey:
    """``("node", 2, "module")`` from msgspec's "... - at `$.node[2].module`"."""
    found = _ERROR_AT.search(message)
    parts: list[str | int] = []
    if found:
        for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", found.group(1)):
            parts.append(int(index) if index else name)
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        parts.append(unknown.group(1))
    return tuple(parts)
