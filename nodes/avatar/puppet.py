"""One avatar's face at any instant: lip sync, emotion, idle life and gaze in one frame.

Pure (no bus, no VTS): the node feeds it audio chunks, playheads and emotions, and asks for
`Puppet.frame` at every injection tick; the result is a dict of VTube Studio default input
parameters.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from nodes.avatar.emotions import FACE_OFFSETS, NEUTRAL
from nodes.avatar.idle import IdleMotion
from nodes.avatar.lipsync import PlayheadClock, SentenceTrack, Smoother

__all__ = ["DRIVEN_PARAMETERS", "Puppet", "PuppetSettings"]

MAX_TRACKS = 48
"""Sentences remembered per avatar (a few replies' worth); older ones are forgotten."""

DRIVEN_PARAMETERS = (
    "MouthOpen", "MouthSmile", "Brows",
    "FaceAngleX", "FaceAngleY", "FaceAngleZ", "FacePositionY",
    "EyeLeftX", "EyeLeftY", "EyeRightX", "EyeRightY", "EyeOpenLeft", "EyeOpenRight",
)
"""Every parameter a frame contains: all of them are sent on every tick, so none lapses."""


@dataclass
class PuppetSettings:
    """Tuning of one avatar."""

    partner_direction: float = 1.0
    """Which way (sign of FaceAngleX) the other avatar is, as seen by this one."""
    human_direction: float = 0.0
    """Which way the human collaborator is (-1..1 like ``partner_direction``; 0: ahead)."""
    lookahead_s: float = 0.0
    """Show the mouth for the audio heard this much later (covers the render delay)."""
    emotion_hold_s: float = 4.0
    """Keep the last sentence's emotion this long after speech ends, then go neutral."""
    face_fade_s: float = 0.4
    seed: int = 0


class Puppet:
    """The face of one persona."""

    def __init__(self, persona: str, settings: PuppetSettings):
        self.persona = persona
        self.settings = settings
        self.tracks: OrderedDict[tuple[str, int], SentenceTrack] = OrderedDict()
        self.sentence_emotions: OrderedDict[tuple[str, int], str] = OrderedDict()
        self.clock = PlayheadClock()
        self.idle = IdleMotion(settings.seed)
        self.mouth_open = Smoother()
        self.mouth_form = Smoother(attack_s=0.03, release_s=0.03, value=0.5)
        self.face = dict(FACE_OFFSETS[NEUTRAL])
        self.face_target = dict(self.face)
        self.heard_key: tuple[str, int] | None = None
        self.last_spoke_ns = 0
        self._last_ns: int | None = None

    # ------------------------------------------------------------ inputs

    def add_chunk(self, key: tuple[str, int], sample_rate: int, pcm: np.ndarray,
                  phonemes: list[tuple[str, int, int]], *, emotion: str = "") -> None:
        """Audio of one sentence (``key`` = (request id, sentence index)), as float samples."""
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = SentenceTrack(sample_rate)
            while len(self.tracks) > MAX_TRACKS:
                self.tracks.popitem(last=False)
        track.append(pcm, phonemes)
        if emotion:
            track.emotion = emotion

    def set_sentence_emotion(self, key: tuple[str, int], emotion: str) -> None:
        """The emotion of a sentence (from ``llm/sentence``), shown when it becomes audible."""
        self.sentence_emotions[key] = emotion
        while len(self.sentence_emotions) > MAX_TRACKS:
            self.sentence_emotions.popitem(last=False)

    def set_face(self, targets: dict[str, float]) -> None:
        """Default-input targets of the current emotion; the face eases toward them."""
        self.face_target = dict(targets)

    def look_at_partner(self, yes: bool) -> None:
        self.idle.gaze.target = self.settings.partner_direction if yes else 0.0

    def look_at_human(self) -> None:
        self.idle.gaze.target = self.settings.human_direction

    # ------------------------------------------------------------ queries

    def heard(self, now_ns: int) -> tuple[SentenceTrack, float] | None:
        """The sentence track and sample audible at ``now_ns``, if a known one is."""
        position = self.clock.heard(now_ns)
        if position is None:
            return None
        key, sample = position
        track = self.tracks.get(key)
        if track is None or sample < 0 or sample >= track.samples:
            return None
        return track, sample

    def speaking(self, now_ns: int) -> bool:
        return self.heard(now_ns) is not None

    def wanted_emotion(self, now_ns: int) -> str | None:
        """The emotion to show now, or None to keep the current one.

        A sentence's emotion shows while it is heard (not when it was generated); after the
        speech ends it is held for ``emotion_hold_s``, then the face returns to neutral.
        """
        position = self.clock.heard(now_ns)
        if position is not None and position[0] in self.tracks:
            key = position[0]
            self.last_spoke_ns = now_ns
            if key != self.heard_key:
                self.heard_key = key
                track = self.tracks[key]
                return track.emotion or self.sentence_emotions.get(key) or None
            return None
        spoke_ns = max(self.last_spoke_ns, self.clock.ended_ns)
        if self.heard_key is not None and now_ns - spoke_ns > self.settings.emotion_hold_s * 1e9:
            self.heard_key = None
            return NEUTRAL
        return None

    def frame(self, now_ns: int) -> dict[str, float]:
        """Every driven parameter at ``now_ns`` (``time.time_ns()`` scale)."""
        dt = 0.0 if self._last_ns is None else (now_ns - self._last_ns) / 1e9
        self._last_ns = now_ns
        target_open, target_form = 0.0, 0.5
        position = self.heard(now_ns + int(self.settings.lookahead_s * 1e9))
        if position is not None:
            mouth = position[0].mouth(position[1])
            target_open, target_form = mouth.open, mouth.form
        mouth_open = self.mouth_open.update(target_open, dt)
        form = self.mouth_form.update(target_form, dt)
        fade = 1.0 - math.exp(-dt / self.settings.face_fade_s) if dt > 0 else 0.0
        for name, target in self.face_target.items():
            current = self.face.get(name, target)
            self.face[name] = current + (target - current) * fade
        values = self.idle.values(now_ns / 1e9)
        values["FaceAngleY"] += 2.0 * mouth_open  # a small nod with the syllables
        smile = self.face.get("MouthSmile", 0.35) + (form - 0.5) * 0.5 * min(1.0, mouth_open * 2)
        values["MouthOpen"] = min(1.0, max(0.0, mouth_open))
        values["MouthSmile"] = min(1.0, max(0.0, smile))
        values["Brows"] = self.face.get("Brows", 0.5)
        return {name: values[name] for name in DRIVEN_PARAMETERS}
