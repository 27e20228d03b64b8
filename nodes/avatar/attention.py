"""Where the avatars look: toward the human while they talk, else at whoever speaks.

Pure (no bus): the node feeds `HumanVoice` the voice-activity events (``speech/vad``) and
the final transcripts (``speech/final``: every utterance that started ends with one, so a lost
``end`` event does not leave the avatars staring), and asks `look_at` for each avatar at every
tick. Times are monotonic seconds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from enum import Enum

__all__ = ["OPEN_MAX", "HumanVoice", "Look", "look_at"]

OPEN_MAX = 8
"""Utterances tracked at once (ids come from outside: the table is bounded)."""


class Look(Enum):
    HUMAN = "human"
    """Toward the human collaborator (the avatar's ``human_direction``)."""
    PARTNER = "partner"
    AHEAD = "ahead"


class HumanVoice:
    """Whether a human voice is heard now.

    Parameters
    ----------
    max_s:
        An utterance with no end after this long no longer counts (its end was lost).
    """

    def __init__(self, max_s: float = 30.0):
        self.max_s = max_s
        self._open: OrderedDict[str, float] = OrderedDict()

    def started(self, utterance_id: str, now: float) -> None:
        self._open[utterance_id] = now
        self._open.move_to_end(utterance_id)
        while len(self._open) > OPEN_MAX:
            self._open.popitem(last=False)

    def ended(self, utterance_id: str) -> None:
        """Its ``end`` event or its final transcript."""
        self._open.pop(utterance_id, None)

    def talking(self, now: float) -> bool:
        for utterance_id, since in list(self._open.items()):
            if now - since > self.max_s:
                del self._open[utterance_id]
        return bool(self._open)


def look_at(persona: str, *, human_talking: bool, audible: Collection[str], floor: str,
            cast: Collection[str]) -> Look:
    """Where ``persona``'s avatar looks: toward the human while they talk; else at the other
    persona who is audible (or, in a silence, who has the ``floor``); else ahead."""
    if human_talking:
        return Look.HUMAN
    if audible:
        return Look.PARTNER if set(audible) - {persona} else Look.AHEAD
    return Look.PARTNER if floor in cast and floor != persona else Look.AHEAD
