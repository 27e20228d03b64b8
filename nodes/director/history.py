"""What was actually said: a turn's audible words, and the shared conversation.

A turn is remembered as it was heard. Sentences heard to the end count whole; the sentence
playing when the turn was cut counts up to the share of its samples that was heard (by
words: half the audio heard keeps about half the words); sentences never played count not
at all. A turn nobody heard is not remembered.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from messages.llm import ChatTurn

__all__ = ["Conversation", "Line", "SpokenSentence", "audible_text", "shorten"]


@dataclass
class SpokenSentence:
    """One sentence of a turn: its text, and how much of its audio was made and heard."""

    index: int
    text: str = ""
    samples: int = 0
    """Samples synthesised so far (all of them once ``complete``)."""
    complete: bool = False
    heard: int = 0
    """Samples heard, from the speaker's playhead."""
    finished: bool = False
    """Heard to the end."""


def audible_text(sentences: list[SpokenSentence]) -> str:
    """The words of ``sentences`` that were heard, in order."""
    words: list[str] = []
    for sentence in sorted(sentences, key=lambda s: s.index):
        if sentence.finished:
            words.extend(sentence.text.split())
        elif sentence.heard > 0 and sentence.samples > 0:
            share = min(1.0, sentence.heard / sentence.samples)
            spoken = sentence.text.split()
            words.extend(spoken[: round(share * len(spoken))])
    return " ".join(words)


@dataclass(frozen=True)
class Line:
    """One line of the conversation: who said it and what (as heard)."""

    speaker: str
    text: str
    persona: str = ""
    """Set when a persona said it."""
    cut_off: bool = False
    source: str = ""
    """Id of the turn, chat message or utterance this line is (memories name it too)."""


@dataclass
class Conversation:
    """The conversation both personas share, newest last.

    Past ``limit`` lines or ``max_chars`` characters, the oldest lines go, down to half of
    each at once rather than one per turn: the LLM reuses the computed prompt for as long as
    its start stays the same, and dropping a line a turn would change the start of every
    prompt (on a CPU a whole history costs seconds to compute again).
    """

    limit: int = 40
    max_chars: int = 6000
    """About 1,700 tokens: well inside the LLM's prompt budget, so it drops nothing itself."""
    lines: deque[Line] = field(default_factory=deque)

    def add(self, line: Line) -> None:
        """Append ``line``; one already held (by its source) moves to the end: a chat line
        put off for the human is added again when it is answered."""
        if not line.text.strip():
            return  # never an empty turn
        if line.source and line.source in self.sources():
            self.lines = deque((held for held in self.lines if held.source != line.source),
                               maxlen=self.lines.maxlen)
        self.lines.append(line)
        if len(self.lines) > self.limit or self._chars() > self.max_chars:
            while len(self.lines) > max(1, self.limit // 2) or (
                    len(self.lines) > 1 and self._chars() > self.max_chars // 2):
                self.lines.popleft()

    def then(self, line: Line) -> Conversation:
        """A copy with ``line`` added: the conversation as it will be once ``line`` is heard."""
        ahead = Conversation(self.limit, self.max_chars, deque(self.lines))
        ahead.add(line)
        return ahead

    def _chars(self) -> int:
        return sum(len(line.text) for line in self.lines)

    def sources(self) -> set[str]:
        """Ids of everything the conversation already holds."""
        return {line.source for line in self.lines if line.source}

    def last_line(self) -> Line | None:
        return self.lines[-1] if self.lines else None

    def as_seen_by(self, persona: str) -> list[ChatTurn]:
        """The conversation from ``persona``'s side: its own lines are the assistant's, the
        others' are user lines with the speaker's name."""
        turns = []
        for line in self.lines:
            if line.persona == persona:
                turns.append(ChatTurn(role="assistant", content=line.text))
            else:
                suffix = " (cut off)" if line.cut_off else ""
                turns.append(ChatTurn(role="user", content=f"{line.speaker}: {line.text}{suffix}",
                                      name=_safe_name(line.speaker)))
        return turns


def _safe_name(speaker: str) -> str:
    # the OpenAI API allows [a-zA-Z0-9_-] in names
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in speaker)[:64]


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to at most ``limit`` characters (prompt time is the slowest hop)."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
