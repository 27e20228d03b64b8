"""What the personas say, at vtlaunch's terminal, sentence by sentence as it becomes audible.

The speaker's playhead (``audio/playhead``) reports each sentence while it is heard, with its
text; `SpokenLines` turns those reports into one line per sentence, at its first audible
report, so the terminal follows the voice instead of waiting for the whole turn.
"""

from __future__ import annotations

from collections import OrderedDict

from messages.audio import Playhead

__all__ = ["SpokenLines"]

REMEMBERED = 256
"""Sentences remembered as shown (keys come from the bus: the table stays bounded; a
sentence's reports come within seconds, so older ones never come again)."""


class SpokenLines:
    """One ``(persona, text)`` per sentence, when its first audible playhead arrives."""

    def __init__(self, remembered: int = REMEMBERED):
        self.remembered = remembered
        self._shown: OrderedDict[tuple[str, int], None] = OrderedDict()

    def heard(self, playhead: Playhead) -> tuple[str, str] | None:
        """The line to show for ``playhead``, or None (not audible, no text, shown already)."""
        if playhead.state == "idle" or not playhead.text.strip():
            return None
        key = (playhead.request_id, playhead.sentence_index)
        if key in self._shown:
            return None
        self._shown[key] = None
        if len(self._shown) > self.remembered:
            self._shown.popitem(last=False)
        if playhead.state == "cut" and playhead.sample == 0:
            return None  # stopped before a sample was heard: never said
        return playhead.persona, playhead.text.strip()
