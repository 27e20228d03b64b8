"""Comparing transcripts: normalised words, word error rate, and overlap with known text."""

from __future__ import annotations

import re

__all__ = ["normalise", "overlap", "sounds_finished", "word_error_rate"]

_NUMBERS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
    "7": "seven", "8": "eight", "9": "nine", "10": "ten",
}


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation; digits 0-10 spelled out (Whisper writes either)."""
    words = re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))
    return [_NUMBERS.get(w, w) for w in (w.strip("'") for w in words) if w]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, on normalised words.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        current = [i]
        for j, hyp_word in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1] / len(ref)


def overlap(text: str, references: list[str]) -> float:
    """Share of ``text``'s words that appear in any of ``references`` (0.0 for empty text)."""
    words = normalise(text)
    if not words:
        return 0.0
    known = {w for ref in references for w in normalise(ref)}
    return sum(w in known for w in words) / len(words)


_TRAILING = frozenset({
    "and", "but", "or", "so", "because", "if", "then", "the", "a", "an", "to", "of", "with",
    "for", "my", "your", "um", "uh", "er", "like", "which", "that",
})
"""Words a finished sentence does not end on: the speaker is still in the middle of it."""


def sounds_finished(text: str) -> bool:
    """Whether a transcript reads as a finished turn: it ends with a full stop, a question or
    an exclamation mark (Whisper punctuates what it hears), not with an ellipsis (its mark for
    speech trailing off) nor on a word that leads on ("and", "the", "um")."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] not in ".?!" or stripped.endswith(("...", "..")):
        return False
    words = normalise(stripped)
    return bool(words) and words[-1] not in _TRAILING
