"""Streaming sentence segmentation: text arrives a token at a time, sentences leave when complete.

TTS can start speaking as soon as the first sentence is whole, so a sentence is released the
moment its end is certain: a terminator (``. ! ? …``), any closing quotes or brackets, then
whitespace and the first character of what follows. That one character of look-ahead is what
tells a sentence end from a continuation (``"Wow!" she said``, ``I was... thinking``,
``approx. three``); it costs nothing in practice because tokens carry their leading space, so
the space and the next word arrive together.

Not a sentence end: decimals and addresses (``3.14``, ``example.com``: no space), titles
(``Dr. Smith``), initials (``J. R. R. Tolkien``), list numbers at the start of a line
(``1. Apples``), a terminator followed by a lowercase word. A line break always ends a
sentence. An emoji right after a terminator stays with its sentence; an emoji followed by a
capital starts a new one. A sentence longer than ``max_chars`` is cut at its last clause
(``, ; : —``) or, failing that, at its last space, so TTS never waits for a run-on sentence.

The first sentence of a reply may leave at its first clause (``first_clause_chars``): the
listener hears the reply start while the model is still writing the rest of that sentence.
"""

from __future__ import annotations

import re

__all__ = ["SentenceSegmenter", "split_sentences"]

TERMINATORS = frozenset(".!?…")
CLOSERS = frozenset("\"'”’)»」』")
OPENERS = "\"'“‘(«「『"
# abbreviations that never end a sentence (lowercase, without the final dot)
NEVER_END = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "sen", "rep", "gen", "col", "lt", "sgt", "capt",
     "rev", "mt", "fig", "no", "vs", "e.g", "i.e", "cf", "approx", "ca", "dept", "est", "vol"}
)
# abbreviations that end a sentence only when a capital follows ("...and so on, etc. The")
MAYBE_END = frozenset({"etc", "inc", "ltd", "co", "corp", "jr", "sr", "al"})
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")  # U.S, a.m (the last dot is at i)
_LIST_NUMBER = re.compile(r"^\(?\d{1,3}$")
# separators a long sentence may be cut after (the separator stays with the first part)
_CLAUSE = re.compile(r"[,;:](?=\s)|\s[—–-](?=\s)|—")


def _is_emoji(ch: str) -> bool:
    code = ord(ch)
    return (
        0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF
        or code in (0xFE0F, 0xFE0E, 0x200D, 0x20E3)
    )


class SentenceSegmenter:
    """Feed text deltas, get complete sentences back.

    Parameters
    ----------
    max_chars:
        A sentence longer than this is cut at a clause (or a space) at or before it.
    min_clause_chars:
        A clause cut leaves at least this many characters in the first part, so a long
        sentence is not split into a two-word fragment and a run-on.
    first_clause_chars:
        0: off. Otherwise the first sentence leaves at its first clause mark at least this
        many characters in, once the next word has begun.
    """

    def __init__(self, *, max_chars: int = 220, min_clause_chars: int = 40,
                 first_clause_chars: int = 0):
        if max_chars < 20:
            raise ValueError(f"max_chars must be at least 20, got {max_chars}")
        self.max_chars = max_chars
        self.min_clause_chars = min(min_clause_chars, max_chars // 2)
        self.first_clause_chars = first_clause_chars
        self.clauses = 0
        """How many of the pieces released were a first clause, not a whole sentence."""
        self._released = False
        self._buf = ""
        self._scan_from = 0
        """Every index before this is known not to end a sentence."""

    @property
    def pending(self) -> str:
        """Text received that is not yet part of a released sentence."""
        return self._buf

    def feed(self, delta: str) -> list[str]:
        """Add ``delta``; return every sentence that is now complete, in order."""
        self._buf += delta
        out: list[str] = []
        while True:
            end, wait_at = self._find_end()
            if end is None and not self._released and self.first_clause_chars:
                end = self._first_clause()
                self.clauses += end is not None
            if end is None and len(self._buf.strip()) > self.max_chars:
                end = self._long_cut()
            if end is None:
                self._scan_from = wait_at
                return out
            self._release(end, out)

    def flush(self) -> list[str]:
        """The end of the stream: whatever is left is the last sentence(s)."""
        out: list[str] = []
        while len(self._buf.strip()) > self.max_chars:
            self._release(self._long_cut(), out)
        self._release(len(self._buf), out)
        return out

    def reset(self) -> None:
        """Forget everything pending (a new reply)."""
        self._buf = ""
        self._scan_from = 0
        self._released = False
        self.clauses = 0

    # ------------------------------------------------------------------ internals

    def _release(self, end: int, out: list[str]) -> None:
        sentence = self._buf[:end].strip()
        self._buf = self._buf[end:].lstrip()
        self._scan_from = 0
        if sentence:
            out.append(sentence)
            self._released = True

    def _first_clause(self) -> int | None:
        """Just past the first clause mark ``first_clause_chars`` or more into the pending
        sentence, once the next word has begun; None if there is none yet."""
        buf = self._buf
        start = len(buf) - len(buf.lstrip())
        for mark in _CLAUSE.finditer(buf, start + self.first_clause_chars):
            if _skip_space(buf, mark.end()) < len(buf):
                return mark.end()
        return None

    def _find_end(self) -> tuple[int | None, int]:
        """(index just past a sentence end, or None; index to resume scanning from)."""
        buf = self._buf
        n = len(buf)
        i = self._scan_from
        while i < n:
            ch = buf[i]
            if ch == "\n":
                if buf[:i].strip():
                    return i + 1, 0
                i += 1
                continue
            if ch in TERMINATORS:
                decided, resume = self._after_terminator(i)
                if decided is None and resume is None:
                    return None, i  # need more text to decide
                if decided is not None:
                    return decided, 0
                assert resume is not None
                i = resume
                continue
            if _is_emoji(ch) and any(c.isalnum() for c in buf[:i]):
                j = i
                while j < n and _is_emoji(buf[j]):
                    j += 1
                k = _skip_space(buf, j)
                if k == n:
                    return None, i
                if k > j and buf[k].isupper():
                    return j, 0
                i = j
                continue
            i += 1
        return None, n

    def _after_terminator(self, i: int) -> tuple[int | None, int | None]:
        """Decide about the terminator at ``i``: (end, None) a sentence ends at ``end``;
        (None, resume) it does not, scan on from ``resume``; (None, None) wait for more text."""
        buf = self._buf
        n = len(buf)
        j = i
        while j < n and buf[j] in TERMINATORS:
            j += 1
        run = buf[i:j]
        while j < n and buf[j] in CLOSERS:
            j += 1
        if j == n:
            return None, None
        if not buf[j].isspace():
            return None, j  # 3.14, example.com, "?!x"
        k = _skip_space(buf, j)
        if k == n:
            return None, None
        if _is_emoji(buf[k]):  # "Great! 😄 Next": the emoji belongs to this sentence
            e = k
            while e < n and _is_emoji(buf[e]):
                e += 1
            if e == n:
                return None, None
            j, k = e, _skip_space(buf, e)
            if k == n:
                return None, None
        following = buf[k]
        if following.islower() or following in ",;:":
            return None, k  # "Wow!" she said / I was... thinking / approx. three
        if run == ".":
            word = _word_before(buf, i)
            key = word.lower()
            if key in NEVER_END or (len(word) == 1 and word.isupper()):
                return None, k  # Dr. Smith / J. R. R. Tolkien
            if _LIST_NUMBER.match(word) and not buf[: i - len(word)].strip():
                return None, k  # "1. Apples" at the start of a line
            if (key in MAYBE_END or _INITIALISM.match(word)) and not following.isupper():
                return None, k
        return j, None

    def _long_cut(self) -> int:
        """Where to cut a sentence that grew past ``max_chars``."""
        buf = self._buf
        start = len(buf) - len(buf.lstrip())
        limit = start + self.max_chars
        window = buf[: limit + 1]
        cuts = [m.end() for m in _CLAUSE.finditer(window, start + self.min_clause_chars)]
        cuts = [c for c in cuts if c <= limit]
        if cuts:
            return cuts[-1]
        space = window.rfind(" ", start + 1, limit + 1)
        return space if space > start else limit


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _word_before(text: str, i: int) -> str:
    """The word that the dot at ``i`` closes, without opening quotes or brackets."""
    start = i
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:i].lstrip(OPENERS)


def split_sentences(text: str, *, max_chars: int = 220) -> list[str]:
    """The sentences of a whole text (the segmenter fed at once, then flushed)."""
    segmenter = SentenceSegmenter(max_chars=max_chars)
    return segmenter.feed(text) + segmenter.flush()
