"""What a reply must never say aloud, found in the bundled model's replies (issue 19).

Measured with ``benchmarks/show_quality.py`` on SmolLM2-135M: stage directions read out
("(smiling mischievously)"), ``Name:`` labels inside a reply ("mike: Rook, ..."), the persona
saying her own name as a filler ("Mika!", "Mika here"), and sentences copied word for word
from the last lines of the conversation. Each has one function here (no bus), which
`nodes.llm.reply.ReplyAssembler` applies to the stream:

- `StageDirections`: text in parentheses, asterisks or square brackets is held until it
  closes and never passed on; a direction that names an emotion ("(grinning)", "*sighs*")
  becomes that emotion's tag (``[happy]``), which `nodes.llm.emotion` reads as the model's
  own tags. It works on the stream, before sentences are cut: a direction may hold a
  terminator ("*jumps up and down!*"). A direction never closed is dropped at the end.
- `LineLabels`: a line that starts with a ``word:`` label after the reply's first line ends
  the reply (the model writing a transcript: the next speaker's line, or nothing but
  "dragon1:" lines for all of a storyteller's 300 tokens).
- `split_label`: ``word:`` labels at a sentence's start (or after a terminator in it).
- `without_own_name`: the persona's name taken out of her own sentence.
- `copied`: a sentence most of whose word triples are in the recent lines.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from nodes.llm.emotion import emotion_of_words, normalise

__all__ = ["MAX_DIRECTION_CHARS", "RECENT_LINES", "LineLabels", "StageDirections", "copied",
           "split_label", "without_own_name"]

MAX_DIRECTION_CHARS = 200
"""An opened direction this long is given up on: dropped, and what follows is text again (the
model's sentences run 40-200 characters; a lone "(" must not silence the rest of a reply)."""
_CLOSING = {"(": ")", "*": "*", "[": "]"}
_STRAY = frozenset(")]")


class StageDirections:
    """Stream filter: text in, text without stage directions out (emotion tags in their
    place where they name one)."""

    def __init__(self) -> None:
        self._open = ""
        """The opener of the direction being held ("" : none)."""
        self._held: list[str] = []
        self._held_chars = 0
        self.found = 0
        """How many directions were taken out."""

    def feed(self, text: str) -> str:
        """What of ``text`` may be spoken now (a direction still open is held)."""
        out: list[str] = []
        for ch in text:
            if self._open:
                if ch == _CLOSING[self._open]:
                    out.append(self._close())
                elif self._held_chars >= MAX_DIRECTION_CHARS:
                    self._drop()
                else:
                    self._held.append(ch)
                    self._held_chars += 1
            elif ch in _CLOSING:
                self._open = ch
            elif ch not in _STRAY:
                out.append(ch)
        return "".join(out)

    def finish(self) -> str:
        """The end of the reply: a direction never closed is dropped."""
        if self._open:
            self._drop()
        return ""

    def _close(self) -> str:
        opener, words = self._open, "".join(self._held)
        self._drop()
        if opener == "[" and normalise(words) is not None:
            self.found -= 1  # an emotion tag, as the prompt asks: passed on as it is
            return f"[{words}]"
        emotion = emotion_of_words(words)
        return f"[{emotion}]" if emotion else " "

    def _drop(self) -> None:
        self.found += 1
        self._open = ""
        self._held.clear()
        self._held_chars = 0


_LINE_LABEL = re.compile(r"[ \t\n]*[\"'“]?[^\W\d][\w'-]{0,31}[ \t]*:")
_MAYBE_LINE_LABEL = re.compile(r"[ \t\n]*[\"'“]?(?:[^\W\d][\w'-]{0,31}[ \t]*)?")


class LineLabels:
    """Stream filter: text in, text out until a line after the first begins with a
    ``word:`` label (`ended`); the start of a line is held until it is known not to be one."""

    def __init__(self) -> None:
        self._head: str | None = None
        """The line begun after a newline while it may still be a label (None: mid-line)."""
        self.ended = False

    def feed(self, text: str) -> str:
        """What of ``text`` belongs to the reply (nothing once it `ended`)."""
        out: list[str] = []
        for ch in text:
            if self.ended:
                break
            if self._head is None:
                out.append(ch)
                if ch == "\n":
                    self._head = ""
                continue
            if ch == "\n" and self._head.strip():  # the line ended without a label
                out.append(self._head + ch)
                self._head = ""
                continue
            self._head += ch
            if _LINE_LABEL.fullmatch(self._head):
                self.ended, self._head = True, None
            elif not _MAYBE_LINE_LABEL.fullmatch(self._head):
                out.append(self._head)
                self._head = None
        return "".join(out)

    def finish(self) -> str:
        """The end of the reply: a line start still held was no label."""
        head, self._head = self._head or "", None
        return "" if self.ended else head


_LABEL = re.compile(r"(?:^|(?<=[.!?…]))\s*[\"'“]?([^\W\d][\w'-]{0,31})\s*:(?!\d)\s*")


def split_label(sentence: str, others: Collection[str] = ()) -> tuple[str, bool]:
    """(``sentence`` without ``word:`` labels, whether one named someone in ``others``).
    A label is one word and a colon at the start or after a terminator inside (the
    segmenter keeps "Okay! viewer_12: lol." together); a time such as ``3:1`` is none. At
    a label naming another speaker the sentence ends: what follows is their line."""
    kept: list[str] = []
    start = 0
    for found in _LABEL.finditer(sentence):
        kept.append(sentence[start:found.start()])
        start = found.end()
        if found.group(1).lower() in others:
            return "".join(kept).strip(), True
    kept.append(sentence[start:])
    text = " ".join(part.strip() for part in kept if part.strip())
    return text, False


def without_own_name(sentence: str, name: str) -> str:
    """``sentence`` without ``name`` (a persona's own name, any case): "Mika here, hi!" ->
    "Hi!", "I'm Mika and I love games." -> "I love games.", "Mika's game" -> "My game";
    "" when nothing else was said."""
    if not name or name.lower() not in sentence.lower():
        return sentence
    n = re.escape(name)
    text = re.sub(rf"\b(?:i'm|i am|it's|it is|this is)\s+{n}\b(?:\s*,)?(?:\s+and\b)?\s*", " ",
                  sentence, flags=re.IGNORECASE)
    text = re.sub(rf"\b{n}\s+here\b", " ", text, flags=re.IGNORECASE)
    text = re.sub(rf"\b{n}'s\b", "my", text, flags=re.IGNORECASE)
    text = re.sub(rf"[,;]?\s*\b{n}\b", " ", text, flags=re.IGNORECASE)
    return _tidy(text)


def _tidy(text: str) -> str:
    """Spacing and punctuation mended after words were taken out, the first letter a
    capital; "" when no word is left."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?;:…])", r"\1", text)
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    text = re.sub(r"[,;]\s*([.!?…])", r"\1", text)
    text = re.sub(r"^[\s,;:.!?…-]+", "", text).strip()
    if not re.search(r"\w", text):
        return ""
    return text[0].upper() + text[1:]


_WORDS = re.compile(r"[a-z0-9']+")
RECENT_LINES = 20
"""How many of the conversation's last lines a sentence is checked against (issue 19)."""
COPY_MIN_WORDS = 4
"""Shorter sentences ("Yes, I do.") recur in any conversation without being copied."""
EXACT_MIN_WORDS = 2
"""A sentence this short is a copy only when it is the same words as a recent sentence
("I'm sorry." from both personas, turn after turn; one word is left alone: "Yes!")."""
COPY_SHARE = 0.6
"""A sentence is a copy when this share of its word triples is found in the recent lines:
every one for a sentence found whole in a line, 9 of 12 for one with a word changed."""


def _triples(text: str) -> list[tuple[str, ...]]:
    words = _WORDS.findall(text.lower().replace("’", "'"))
    return [tuple(words[i:i + 3]) for i in range(len(words) - 2)]


def copied(sentence: str, recent: Iterable[str]) -> bool:
    """``sentence`` is mostly made of the ``recent`` lines' word triples (a line, or most of
    one, said again: `COPY_MIN_WORDS` words or more), or, shorter, is one of their sentences
    word for word ("No, no, no!", "I'm sorry." turn after turn: `EXACT_MIN_WORDS` words or
    more)."""
    recent = list(recent)
    own = _triples(sentence)
    if len(own) >= COPY_MIN_WORDS - 2:
        seen = {t for line in recent for t in _triples(line)}
        return sum(t in seen for t in own) >= COPY_SHARE * len(own)
    words = _WORDS.findall(sentence.lower())
    if len(words) < EXACT_MIN_WORDS:
        return False
    return any(_WORDS.findall(split_label(said)[0].lower()) == words
               for line in recent for said in re.split(r"(?<=[.!?…])\s+", line))
