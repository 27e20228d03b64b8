"""Cutting text and audio to size: long sentences into pieces, audio into small chunks.

Time to first audio grows with the length of the first piece synthesised (Piper renders a
piece at once), so the first piece of a reply may be kept shorter than the rest.
"""

from __future__ import annotations

import re

__all__ = ["chunk_ranges", "split_text"]

_CLAUSE_END = re.compile(r"(?<=[,;:\u2014\u2013)])\s+|\s+(?=[\u2014\u2013(])")
_WHITESPACE = re.compile(r"\s+")


def split_text(text: str, max_chars: int, first_max_chars: int = 0) -> list[str]:
    """Split ``text`` into pieces of at most ``max_chars`` (the first at most
    ``first_max_chars`` when that is set), preferring clause boundaries, then spaces.

    A single word longer than the limit is kept whole: cutting inside a word would garble it.
    """
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    text = _WHITESPACE.sub(" ", text).strip()
    pieces: list[str] = []
    rest = text
    while rest:
        limit = first_max_chars if not pieces and first_max_chars > 0 else max_chars
        if len(rest) <= limit:
            pieces.append(rest)
            break
        cut = _best_cut(rest, limit)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return pieces


def _best_cut(text: str, limit: int) -> int:
    """Where to cut ``text`` so the head fits in ``limit``: the last clause boundary past a
    third of the limit, else the last space, else the end of the first word."""
    head = text[: limit + 1]
    clause_cuts = [m.start() for m in _CLAUSE_END.finditer(head) if m.start() <= limit]
    clause_cuts = [c for c in clause_cuts if c >= limit // 3]
    if clause_cuts:
        return clause_cuts[-1]
    space = head.rfind(" ")
    if space > 0:
        return space
    first_space = text.find(" ")
    return first_space if first_space > 0 else len(text)


def chunk_ranges(total: int, chunk: int) -> list[tuple[int, int]]:
    """``[start, end)`` sample ranges of at most ``chunk`` samples covering ``total`` samples."""
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")
    return [(start, min(start + chunk, total)) for start in range(0, total, chunk)]
