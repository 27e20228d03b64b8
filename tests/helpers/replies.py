"""A reply streamed into `ReplyAssembler` as the model would: a token-like delta at a time."""

from __future__ import annotations

import re

from nodes.llm.backends.base import Delta
from nodes.llm.reply import ReplyAssembler, SpokenSentence


def deltas(text: str) -> list[Delta]:
    """``text`` cut as a tokenizer would, about: words with their leading space, punctuation."""
    return [Delta(t) for t in re.findall(r"\s*[\w']+|\s*[^\w\s]|\s+", text)]


def run(reply: ReplyAssembler, text: str) -> list[SpokenSentence]:
    """Every sentence ``reply`` makes of ``text``, the end of the stream included."""
    out: list[SpokenSentence] = []
    for delta in deltas(text):
        out += reply.feed(delta)
    return out + reply.finish()[0]
