"""Idle life: smooth noise, breathing, blinks, gaze easing, the idle parameter set."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nodes.avatar.idle import Blinker, Gaze, IdleMotion, SmoothNoise, breath

SEED = 1234  # every random generator here is seeded: failures reproduce


class TestSmoothNoise:
    def test_bounded_and_smooth(self) -> None:
        noise = SmoothNoise(random.Random(SEED), period_s=2.0)
        t = np.arange(0, 30, 1 / 60)
        values = np.array([noise(x) for x in t])
        assert values.min() >= -1 and values.max() <= 1
        # smooth, not jitter: no step between 60 Hz samples bigger than the knot slope allows
        assert np.abs(np.diff(values)).max() < 0.05
        assert values.std() > 0.1  # and it does move

    def test_same_seed_same_path(self) -> None:
        a, b = SmoothNoise(random.Random(SEED), 1.0), SmoothNoise(random.Random(SEED), 1.0)
        assert [a(x / 10) for x in range(100)] == [b(x / 10) for x in range(100)]


class TestBreath:
    def test_cycle(self) -> None:
        values = [breath(t / 100, period_s=4.0) for t in range(400)]
        assert min(values) == pytest.approx(0, abs=0.01)
        assert max(values) == pytest.approx(1, abs=0.01)
        assert breath(0.0, period_s=4.0) == pytest.approx(breath(4.0, period_s=4.0))


class TestBlinker:
    def test_blinks_every_few_seconds(self) -> None:
        blinker = Blinker(random.Random(SEED))
        t = np.arange(0, 60, 1 / 200)
        eyes = np.array([blinker.openness(x) for x in t])
        closings = np.sum((eyes[1:] < 0.05) & (eyes[:-1] >= 0.05))
        assert 8 <= closings <= 35  # one every 2-6 s, some doubled
        assert eyes.min() == 0.0 and eyes.max() == 1.0

    def test_blink_is_short(self) -> None:
        blinker = Blinker(random.Random(SEED))
        t = np.arange(0, 30, 1 / 1000)
        shut = np.array([blinker.openness(x) < 0.5 for x in t])
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], shut.astype(int), [0]]))))
        assert runs[::2].max() <= 0.2 * 1000  # no blink keeps the eyes half-shut > 200 ms


class TestGaze:
    def test_eases_toward_target(self) -> None:
        gaze = Gaze(ease_s=0.3)
        gaze.target = 1.0
        first = gaze.update(1 / 60)
        assert 0 < first < 0.1  # no jump
        for _ in range(120):
            gaze.update(1 / 60)
        assert gaze.value == pytest.approx(1.0, abs=0.01)


class TestIdleMotion:
    def test_parameters_in_vts_ranges(self) -> None:
        idle = IdleMotion(SEED)
        for step in range(0, 60 * 20):
            values = idle.values(step / 60)
            assert abs(values["FaceAngleX"]) <= 30
            assert abs(values["FaceAngleY"]) <= 30
            assert abs(values["FaceAngleZ"]) <= 90
            assert all(-1 <= values[k] <= 1 for k in ("EyeLeftX", "EyeLeftY", "EyeRightX"))
            assert 0 <= values["EyeOpenLeft"] <= 1

    def test_looking_at_partner_turns_head_and_eyes(self) -> None:
        idle = IdleMotion(SEED, amplitude=0.0)
        idle.gaze.target = -1.0
        for step in range(120):
            values = idle.values(step / 60)
        assert values["FaceAngleX"] < -10
        assert values["EyeLeftX"] < -0.4

    def test_two_seeds_differ(self) -> None:
        a, b = IdleMotion(1), IdleMotion(2)
        assert [a.values(t / 10)["FaceAngleX"] for t in range(50)] != \
            [b.values(t / 10)["FaceAngleX"] for t in range(50)]
