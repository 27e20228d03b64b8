"""Who is talking in the room: the enrolled collaborator, or someone else.

The stt node labels each final transcript's ``speaker``: the enrolled collaborator's name
(launch's ``human_name``, its ``speaker_name``) when the voice matches the enrolment
(``enrol_wav``), else ``unknown``. `Voices` turns a label into what the show does with it:

- the collaborator is called by ``human_name`` in the conversation the LLM sees, and always
  has the floor (`nodes.director.floor`, rule 1);
- anyone else is "Someone in the room"; ``room_takes_floor`` says whether they too are
  answered and cut a persona by starting to talk, or are only heard: their words go into the
  conversation as context (the personas know what was said) but nobody answers them, and
  their voice cuts nobody.

With nobody enrolled every voice is ``unknown`` and nothing tells them apart: every voice is
the collaborator's, as before labels existed. An enrolment is known from the registry (the
node publishing ``speech/final`` was given an ``enrol_wav``) or from a transcript labelled
with a name.

Who is talking is known only with their words (the final transcript), not when their voice
starts: at the onset, a persona is cut at once unless an enrolment exists and someone else
may not take the floor; then the persona talks on until the words say it is the
collaborator (the floor is held meanwhile: no new turn starts over anyone's voice).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROOM", "UNKNOWN", "Voices"]

UNKNOWN = "unknown"
"""The stt node's label for a voice that is not the enrolled one (or with nobody enrolled)."""
ROOM = "Someone in the room"
"""How the conversation names a voice that is not the collaborator's."""


@dataclass
class Voices:
    """The collaborator's name, and what anyone else may do.

    Parameters
    ----------
    human_name:
        How the personas call the collaborator.
    room_takes_floor:
        Whether someone other than the enrolled collaborator is answered and cuts a persona.
    """

    human_name: str = "Collaborator"
    room_takes_floor: bool = True
    enrolled_on_bus: bool = False
    """The registry says the speech-to-text node enrolled a voice."""
    label_seen: bool = False
    """A transcript came labelled with a name: a voice is enrolled."""

    @property
    def enrolled(self) -> bool:
        return self.enrolled_on_bus or self.label_seen

    def heard(self, speaker: str) -> None:
        """A final transcript's label (a name proves an enrolment)."""
        if speaker and speaker != UNKNOWN:
            self.label_seen = True

    def is_collaborator(self, speaker: str) -> bool:
        """Any enrolled voice is the collaborator's; an unknown one is only while nobody is
        enrolled (nothing tells voices apart then)."""
        return speaker != UNKNOWN or not self.enrolled

    def name(self, speaker: str) -> str:
        """The speaker as the conversation names them."""
        return self.human_name if self.is_collaborator(speaker) else ROOM

    def may_take_floor(self, speaker: str) -> bool:
        """Whether their words are answered (else heard as context only)."""
        return self.room_takes_floor or self.is_collaborator(speaker)

    def onset_cuts(self) -> bool:
        """Whether a voice starting cuts a persona at once (its speaker is not known yet):
        unless someone other than the collaborator could be talking and may not."""
        return self.room_takes_floor or not self.enrolled
