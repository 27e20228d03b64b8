"""One reply being streamed: deltas in, spoken sentences and tool calls out (no bus here).

Text goes through the sentence segmenter and the emotion tracker. A reply that starts with a
speaker's name as a label (``Rook: Hello``, ``alice: I think``: a habit the ``name: text``
conversation format teaches small models) loses that label. When tools were offered and
the reply starts like a JSON call (``{``, ``[{``, ``<tool_call>``...), the text is held back
instead of spoken and parsed for calls at the end (the JSON fallback for small models); calls
streamed as ``delta.tool_calls`` (vLLM) are assembled as they come.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from nodes.llm.backends.base import Delta
from nodes.llm.emotion import EmotionTracker
from nodes.llm.sentences import SentenceSegmenter
from nodes.llm.tools import (
    ParsedCall,
    ToolCallAccumulator,
    parse_text_tool_calls,
    reply_is_tool_call,
)

__all__ = ["ReplyAssembler", "SpokenSentence"]

@dataclass(frozen=True)
class SpokenSentence:
    index: int
    text: str
    emotion: str


class ReplyAssembler:
    """Turns a stream of deltas into numbered spoken sentences (and tool calls).

    Parameters
    ----------
    tool_names:
        Names of the tools offered with the request (empty: text is never held back).
    max_sentences:
        `enough` turns True once this many sentences were released (0: never).
    max_chars:
        The segmenter's limit for one sentence.
    speaker_names:
        The persona's and the conversation's names: a ``Name:`` label at the start of the
        reply is removed.
    first_clause_chars:
        The first sentence may leave at its first clause this far in (0: whole sentences
        only); such a clause does not count towards ``max_sentences``.
    """

    def __init__(self, *, tool_names: Collection[str] = (), max_sentences: int = 0,
                 max_chars: int = 220, speaker_names: Collection[str] = (),
                 first_clause_chars: int = 0):
        self.tool_names = frozenset(tool_names)
        self._labels = sorted({f"{n.lower()}:" for n in speaker_names if n}, key=len,
                              reverse=True)
        self.max_sentences = max_sentences
        self._segmenter = SentenceSegmenter(max_chars=max_chars,
                                            first_clause_chars=first_clause_chars)
        self._emotions = EmotionTracker()
        self._native_calls = ToolCallAccumulator()
        self._head = ""
        """Text received before the start of the reply is decided (label, JSON call), or all
        the text of a reply held back as a call."""
        self._holding: bool | None = None
        self._written: list[str] = []
        """Every piece of text the model wrote, until the sentence limit was reached."""
        self._relabelled = False
        self.sentences: list[SpokenSentence] = []

    @property
    def enough(self) -> bool:
        """The persona's sentence limit is reached: generation may stop."""
        return 0 < self.max_sentences <= len(self.sentences) - self._segmenter.clauses

    @property
    def spoken_text(self) -> str:
        """Every sentence released so far, as spoken."""
        return " ".join(s.text for s in self.sentences)

    @property
    def as_written(self) -> str | None:
        """The reply as the model wrote it (tags and all), up to the end of its last spoken
        sentence: what its KV cache holds, for the persona's next prompt. None when that
        would not do: a ``Name:`` label was removed (the model must not see itself write
        one), or the reply was a tool call."""
        if self._relabelled or self._holding or not self.sentences:
            return None
        written = "".join(self._written)
        unspoken = self._segmenter.pending  # the start of a sentence after the limit
        if unspoken and written.endswith(unspoken):
            written = written[: len(written) - len(unspoken)]
        return written.strip()

    def feed(self, delta: Delta) -> list[SpokenSentence]:
        """Sentences completed by this delta."""
        if delta.tool_calls:
            self._native_calls.feed(delta.tool_calls)
        if not delta.text or self.enough:
            return []
        self._written.append(delta.text)
        if self._holding is None:
            self._head += delta.text
            rest = self._without_label(self._head)
            if rest is None:
                return []
            self._holding = reply_is_tool_call(rest) if self.tool_names else False
            if self._holding is None:
                return []
            self._head = rest
            if self._holding:
                return []
            text, self._head = self._head, ""
            return self._speak(self._segmenter.feed(text))
        if self._holding:
            self._head += delta.text
            return []
        return self._speak(self._segmenter.feed(delta.text))

    def finish(self, *, unfinished: bool = True) -> tuple[list[SpokenSentence], list[ParsedCall]]:
        """The end of the stream: the last sentences, and every tool call made.
        ``unfinished=False``: a last sentence without its end (the reply was cut off) is
        dropped when an earlier one was spoken."""
        calls = self._native_calls.calls()
        rest = self._head
        if rest and self.tool_names:
            found, rest = parse_text_tool_calls(rest, self.tool_names)
            calls += found
        if self.enough:
            return [], calls
        complete = self._segmenter.feed(rest)
        if unfinished or not (self.sentences or complete):
            complete += self._segmenter.flush()
        return self._speak(complete), calls

    def _without_label(self, head: str) -> str | None:
        """``head`` without a leading ``Name:`` label; None while it may still become one."""
        stripped = head.lstrip()
        lowered = stripped.lower()
        for label in self._labels:
            if lowered.startswith(label):
                self._relabelled = True
                return stripped[len(label):]
            if label.startswith(lowered):
                return None
        return head

    def _speak(self, raw: list[str]) -> list[SpokenSentence]:
        out = []
        for sentence in raw:
            if self.enough:
                break
            spoken = self._emotions.spoken(sentence)
            if not spoken.text:  # only a tag or emoji: its emotion carries to the next one
                continue
            item = SpokenSentence(len(self.sentences), spoken.text, spoken.emotion or "neutral")
            self.sentences.append(item)
            out.append(item)
        return out

