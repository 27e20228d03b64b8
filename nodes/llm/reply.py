"""One reply being streamed: deltas in, spoken sentences and tool calls out (no bus here).

Text goes through the stage-direction filter, the sentence segmenter and the emotion tracker
(`nodes.llm.spoken`: what is never spoken). A reply that starts with a speaker's name as a
label (``Rook: Hello``, ``alice: I think``: a habit the ``name: text`` conversation format
teaches small models) loses that label, and so does any sentence starting with a ``word:``
label, except that another speaker's label ends the reply (the model began writing their
line). The persona's own name is taken out of her sentences, and a sentence copied from the
recent conversation (or from the reply itself) is cut. When tools were offered and
the reply starts like a JSON call (``{``, ``[{``, ``<tool_call>``...), the text is held back
instead of spoken and parsed for calls at the end (the JSON fallback for small models); calls
streamed as ``delta.tool_calls`` (vLLM) are assembled as they come.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from nodes.llm.backends.base import Delta
from nodes.llm.emotion import EmotionTracker
from nodes.llm.sentences import SentenceSegmenter
from nodes.llm.spoken import LineLabels, StageDirections, copied, split_label, without_own_name
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
    persona:
        Who speaks: her name is taken out of her sentences, and a label naming anyone else
        in ``speaker_names`` ends the reply ("": every label is only removed).
    recent:
        The recent lines of the conversation: a sentence copied from them is cut.
    """

    def __init__(self, *, tool_names: Collection[str] = (), max_sentences: int = 0,
                 max_chars: int = 220, speaker_names: Collection[str] = (),
                 first_clause_chars: int = 0, persona: str = "",
                 recent: Sequence[str] = ()):
        self.tool_names = frozenset(tool_names)
        self._labels = sorted({f"{n.lower()}:" for n in speaker_names if n}, key=len,
                              reverse=True)
        self.persona = persona
        self._others = {n.lower() for n in speaker_names if n} - {persona.lower()} \
            if persona else set()
        self._recent = list(recent)
        self._names = {n.lower() for n in speaker_names if n} | (
            {persona.lower()} if persona else set())
        self._directions = StageDirections()
        self._lines = LineLabels()
        self._ended = False
        """Another speaker's label came: nothing after it is this persona's."""
        self.cut = 0
        """Sentences left unsaid as copies of recent lines."""
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
        self._altered = False
        """Something the model wrote was not said (a label, a direction, her name, a copy)."""
        self.sentences: list[SpokenSentence] = []

    @property
    def enough(self) -> bool:
        """The persona's sentence limit is reached (or another speaker's line began):
        generation may stop."""
        return self._ended or (
            0 < self.max_sentences <= len(self.sentences) - self._segmenter.clauses)

    @property
    def silenced(self) -> bool:
        """Nothing was said although the model wrote something: all of it was left unsaid
        (copies, stage directions, labels)."""
        return not self.sentences and bool(
            self._altered or self._directions.found or self.cut)

    @property
    def spoken_text(self) -> str:
        """Every sentence released so far, as spoken."""
        return " ".join(s.text for s in self.sentences)

    @property
    def written(self) -> str:
        """Everything the model wrote (up to the sentence limit), said or not."""
        return "".join(self._written)

    @property
    def as_written(self) -> str | None:
        """The reply as the model wrote it (tags and all), up to the end of its last spoken
        sentence: what its KV cache holds, for the persona's next prompt. None when that
        would not do: something it wrote was not said (a ``Name:`` label, a stage direction,
        its own name, a copied sentence: the model must not see itself write one), or the
        reply was a tool call."""
        if self._altered or self._directions.found or self._holding or not self.sentences:
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
            return self._speak(self._sentences(text))
        if self._holding:
            self._head += delta.text
            return []
        return self._speak(self._sentences(delta.text))

    def _sentences(self, text: str) -> list[str]:
        sentences = self._segmenter.feed(self._directions.feed(self._lines.feed(text)))
        if self._lines.ended:  # a new line with a label: what came before it is said
            self._altered = True
            self._directions.finish()
            sentences += self._segmenter.flush()
        return sentences

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
        complete = self._sentences(rest + self._lines.finish()) if not self._holding else []
        self._directions.finish()
        if unfinished or not (self.sentences or complete):
            complete += self._segmenter.flush()
        return self._speak(complete), calls

    def _without_label(self, head: str) -> str | None:
        """``head`` without a leading ``Name:`` label; None while it may still become one."""
        stripped = head.lstrip()
        lowered = stripped.lower()
        for label in self._labels:
            if lowered.startswith(label):
                self._altered = True
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
            text = self._unsaid_removed(spoken.text)
            if not text:  # only a tag or emoji: its emotion carries to the next one
                continue
            item = SpokenSentence(len(self.sentences), text, spoken.emotion or "neutral")
            self.sentences.append(item)
            out.append(item)
        if self._lines.ended:
            self._ended = True
        return out

    def _unsaid_removed(self, text: str) -> str:
        """``text`` as the persona may say it: without a label (another speaker's ends the
        reply), without her name; "" for a copy of a recent line or of her own sentence."""
        unlabelled, ended = split_label(text, self._others)
        if unlabelled != text:
            self._altered = True
        if ended:
            self._ended = True
        text = unlabelled
        if text and _only_a_name(text, self._names):
            self._altered = True  # "Rook!" turn after turn: a name alone says nothing
            return ""
        if self.persona:
            named = without_own_name(text, self.persona)
            self._altered |= named != text
            text = named
        if text and copied(text, [*self._recent, *(s.text for s in self.sentences)]):
            self._altered = True
            self.cut += 1
            return ""
        return text


def _only_a_name(text: str, names: Collection[str]) -> bool:
    """``text`` is a speaker's name and punctuation, nothing else."""
    words = re.findall(r"[\w'-]+", text.lower())
    return len(words) == 1 and words[0] in names
