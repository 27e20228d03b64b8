"""The start floor on real audio: the stt node's own chain (bundled Silero, the echo gate, the
VAD at the node's default parameters) run offline on sounds a microphone hears. Nothing that is
not a person starts speech (noise, music, typing, the personas' own voices over the
loudspeakers); a person is heard one 32 ms chunk sooner than with the two-chunk floor."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from nodes.stt.params import Params
from nodes.stt.settings import vad_settings
from nodes.stt.testing import (
    Scene,
    espeak,
    keyboard,
    music,
    personas_over_speakers,
    pink_noise,
    piper,
    speech_probabilities,
    vad_starts,
    white_noise,
)
from nodes.stt.vad import VadSettings

DEFAULT = vad_settings(Params())
TWO_CHUNKS = VadSettings(start_alone_threshold=0.0)
"""The floor before issue 19: two chunks in a row at 0.5, whatever Silero's confidence."""
CHUNK_S = 0.032


def in_a_room(sound: np.ndarray) -> np.ndarray:
    """Half a second of a quiet room, then ``sound`` over the room's hiss."""
    room = white_noise(0.5 + len(sound) / 16000, 0.003, seed=99)
    room[8000:] += sound
    return room


NOT_SPEECH = {
    "hiss_-20dBFS": lambda: white_noise(10, 0.1, 1),
    "hiss_-10dBFS": lambda: white_noise(10, 0.3, 2),
    "rumble_-15dBFS": lambda: pink_noise(10, 0.18, 3),
    "music_-6dBFS": lambda: music(20, 0.5, 6),
    "music_-1dBFS": lambda: music(20, 0.9, 7),
    "typing_-1dBFS": lambda: keyboard(10, 0.9, 9),
}


@pytest.mark.slow
class TestNoFalseStarts:
    @pytest.mark.parametrize("name", NOT_SPEECH)
    def test_a_sound_that_is_not_a_person_starts_nothing(self, name: str) -> None:
        assert vad_starts(in_a_room(NOT_SPEECH[name]()), DEFAULT) == []

    def test_sung_tones_start_no_more_often_than_with_two_chunks(self) -> None:
        # tunes with vibrato that Silero takes for singing (up to 0.9): both floors start on
        # some (a limit of the model, not of the floor), one sure chunk adds none; one chunk
        # at the bare threshold would add some (why it must be a sure one)
        starts = {"now": 0, "two_chunks": 0, "one_chunk": 0}
        for seed in (22, 31, 34, 35, 38):
            audio = in_a_room(music(30, 0.9, seed))
            probabilities = speech_probabilities(audio)
            for name, floor in (("now", DEFAULT), ("two_chunks", TWO_CHUNKS),
                                ("one_chunk", VadSettings(start_chunks=1))):
                starts[name] += len(vad_starts(audio, floor, probabilities=probabilities))
        assert starts["now"] == starts["two_chunks"] < starts["one_chunk"]

    # -14 dB and -8 dB; Kokoro (seconds a sentence here) only at the louder
    @pytest.mark.parametrize(("voice", "gain"), [("piper", 0.2), ("piper", 0.4), ("kokoro", 0.4)])
    def test_the_personas_own_voices_start_nothing(self, voice: str, gain: float) -> None:
        scene, reference, _ = personas_talking(voice, gain, cut_in=False)
        assert vad_starts(scene.audio, DEFAULT, reference) == []


personas_talking = cache(personas_over_speakers)
"""Each scene made once: Kokoro takes seconds a sentence here."""


def heard(starts: list[int], onsets: list[float]) -> list[float]:
    """Per onset, the time (s) the start is published (its chunk is whole), if one comes."""
    return [next(((n + 1) * CHUNK_S for n in starts if -0.2 <= (n + 1) * CHUNK_S - o <= 1.0),
                 float("nan")) for o in onsets]


@pytest.mark.slow
class TestPeopleSooner:
    def test_a_person_over_the_echo_is_heard_a_chunk_sooner(self) -> None:
        scene, reference, onsets = personas_talking("piper", 0.2, cut_in=True)
        now = vad_starts(scene.audio, DEFAULT, reference)
        before = vad_starts(scene.audio, TWO_CHUNKS, reference)
        assert len(now) == len(before) == len(onsets)  # each heard once, nothing else
        assert np.allclose(np.subtract(heard(before, onsets), heard(now, onsets)), CHUNK_S)

    def test_sentences_start_no_later_and_mostly_sooner_with_no_extra_starts(self) -> None:
        scene = Scene(seed=9).silence(1.0)
        for n, text in enumerate(("Could you pass me the blue notebook on the shelf?",
                                  "My cousin just adopted a tiny grey kitten.",
                                  "Which one of you forgot to water the plants?",
                                  "Honestly, that boss fight took me almost an hour.")):
            scene.say(piper(text) if n % 2 else espeak(text), text, "person").silence(1.5)
        scene.noise(0.003)
        onsets = [p.start_s for p in scene.placed]
        now = heard(vad_starts(scene.audio, DEFAULT), onsets)
        before = heard(vad_starts(scene.audio, TWO_CHUNKS), onsets)
        assert len(vad_starts(scene.audio, DEFAULT)) == len(onsets)
        gained = np.subtract(before, now)
        assert np.all(gained >= -1e-9) and np.sum(gained > 0) >= 2
