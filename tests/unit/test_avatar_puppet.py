"""The puppet: mouth aligned to the playhead, emotion when heard, gaze, every parameter."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.audio import tone

from nodes.avatar.emotions import NEUTRAL
from nodes.avatar.puppet import DRIVEN_PARAMETERS, Puppet, PuppetSettings

RATE = 16000
S = 1_000_000_000  # ns per second


def speech_then_silence() -> np.ndarray:
    silence = np.zeros(RATE // 2, np.float32)
    return np.concatenate([silence, tone(200, 0.5, RATE), silence])


def run(puppet: Puppet, start_ns: int, seconds: float) -> list[tuple[int, dict[str, float]]]:
    frames = []
    for k in range(int(seconds * 60)):
        now = start_ns + k * S // 60
        frames.append((now, puppet.frame(now)))
    return frames


class TestMouth:
    def test_opens_only_while_speech_is_audible(self) -> None:
        puppet = Puppet("aria", PuppetSettings(seed=1))
        puppet.add_chunk(("r", 0), RATE, speech_then_silence(), [])
        t0 = 10 * S
        puppet.clock.update("r", 0, 0, RATE, "playing", audible_ns=t0)
        for now, values in run(puppet, t0 - S // 2, 2.5):
            at = (now - t0) / S
            if 0.55 <= at <= 0.95:
                assert values["MouthOpen"] > 0.5, at
            if at < 0.45 or at >= 1.15:
                assert values["MouthOpen"] < 0.05, at

    def test_lookahead_shifts_earlier(self) -> None:
        def onset(lookahead_s: float) -> float:
            puppet = Puppet("aria", PuppetSettings(seed=1, lookahead_s=lookahead_s))
            puppet.add_chunk(("r", 0), RATE, speech_then_silence(), [])
            puppet.clock.update("r", 0, 0, RATE, "playing", audible_ns=0)
            for k in range(2000):
                if puppet.frame(k * S // 1000)["MouthOpen"] > 0.3:
                    return k / 1000
            raise AssertionError("mouth never opened")

        assert onset(0.0) - onset(0.05) == pytest.approx(0.05, abs=0.003)

    def test_cut_closes_the_mouth(self) -> None:
        puppet = Puppet("aria", PuppetSettings(seed=1))
        puppet.add_chunk(("r", 0), RATE, speech_then_silence(), [])
        puppet.clock.update("r", 0, 0, RATE, "playing", audible_ns=0)
        run(puppet, int(0.5 * S), 0.2)
        puppet.clock.update("r", 0, int(0.7 * RATE), RATE, "cut", audible_ns=int(0.7 * S))
        last = run(puppet, int(0.7 * S), 0.3)[-1][1]
        assert last["MouthOpen"] < 0.01

    def test_unknown_sentence_keeps_mouth_closed(self) -> None:
        puppet = Puppet("aria", PuppetSettings(seed=1))
        puppet.clock.update("other", 3, 0, RATE, "playing", audible_ns=0)
        assert max(v["MouthOpen"] for _, v in run(puppet, 0, 0.5)) == 0.0

    def test_every_driven_parameter_in_every_frame(self) -> None:
        puppet = Puppet("aria", PuppetSettings(seed=1))
        for _, values in run(puppet, 0, 0.2):
            assert set(values) == set(DRIVEN_PARAMETERS)


class TestEmotionTiming:
    def test_emotion_when_heard_then_neutral_after_hold(self) -> None:
        puppet = Puppet("aria", PuppetSettings(seed=1, emotion_hold_s=1.0))
        puppet.add_chunk(("r", 0), RATE, speech_then_silence(), [], emotion="happy")
        assert puppet.wanted_emotion(0) is None  # generated, not yet heard
        puppet.clock.update("r", 0, 0, RATE, "playing", audible_ns=S)
        assert puppet.wanted_emotion(S) == "happy"
        assert puppet.wanted_emotion(S + S // 10) is None  # already shown
        puppet.clock.update("r", 0, int(1.5 * RATE), RATE, "finished", audible_ns=int(2.5 * S))
        assert puppet.wanted_emotion(int(2.6 * S)) is None  # held
        assert puppet.wanted_emotion(int(4.0 * S)) == NEUTRAL

    def test_sentence_message_emotion_used_when_chunk_has_none(self) -> None:
        puppet = Puppet("aria", PuppetSettings(seed=1))
        puppet.set_sentence_emotion(("r", 0), "sad")
        puppet.add_chunk(("r", 0), RATE, speech_then_silence(), [])
        puppet.clock.update("r", 0, 0, RATE, "playing", audible_ns=0)
        assert puppet.wanted_emotion(1) == "sad"


class TestGaze:
    @pytest.mark.parametrize(("direction", "sign"), [(1.0, 1), (-1.0, -1)])
    def test_looks_toward_partner(self, direction: float, sign: int) -> None:
        puppet = Puppet("kai", PuppetSettings(seed=3, partner_direction=direction))
        puppet.look_at_partner(True)
        last = run(puppet, 0, 2.0)[-1][1]
        assert sign * last["FaceAngleX"] > 8
