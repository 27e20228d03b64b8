"""Idle life: blinking, breathing, and small smooth head and eye motion, as functions of time.

Pure and deterministic for a given seed, so tests can check shapes and ranges. Times are in
seconds on any monotonic scale; every generator takes the time explicitly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

__all__ = ["Blinker", "Gaze", "IdleMotion", "SmoothNoise", "breath"]


class SmoothNoise:
    """1-D value noise with smoothstep interpolation: continuous, with a continuous slope.

    ``period_s`` is the spacing of the random knots (how slowly it wanders); values lie in
    -1..1.
    """

    def __init__(self, rng: random.Random, period_s: float):
        self.rng = rng
        self.period_s = period_s
        self._knots: dict[int, float] = {}

    def _knot(self, i: int) -> float:
        if i not in self._knots:
            if len(self._knots) > 64:  # time only moves forward: forget old knots
                for old in sorted(self._knots)[:32]:
                    del self._knots[old]
            self._knots[i] = self.rng.uniform(-1.0, 1.0)
        return self._knots[i]

    def __call__(self, t: float) -> float:
        x = t / self.period_s
        i = math.floor(x)
        f = x - i
        s = f * f * (3.0 - 2.0 * f)
        return self._knot(i) * (1.0 - s) + self._knot(i + 1) * s


def breath(t: float, *, period_s: float = 4.2) -> float:
    """Breathing phase 0..1 (0 = exhaled): a slow, slightly asymmetric cycle."""
    phase = (t / period_s) % 1.0
    return 0.5 - 0.5 * math.cos(2.0 * math.pi * (phase + 0.08 * math.sin(2.0 * math.pi * phase)))


@dataclass
class Blinker:
    """Eyelids: ``openness(t)`` is 1 open .. 0 shut, blinking every 2-6 s (sometimes twice).

    A blink closes in ``close_s``, stays shut ``hold_s`` and opens in ``open_s``.
    """

    rng: random.Random
    close_s: float = 0.07
    hold_s: float = 0.03
    open_s: float = 0.12
    min_gap_s: float = 2.0
    max_gap_s: float = 6.0
    _next: float | None = None
    _blinks: list[float] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.close_s + self.hold_s + self.open_s

    def openness(self, t: float) -> float:
        if self._next is None:
            self._next = t + self.rng.uniform(0.5, self.max_gap_s)
        while t >= self._next:
            self._blinks.append(self._next)
            double = self.rng.random() < 0.12
            gap = self.duration_s + 0.08 if double else self.rng.uniform(self.min_gap_s,
                                                                         self.max_gap_s)
            self._next += gap
        self._blinks = [b for b in self._blinks if t - b < self.duration_s]
        return min((self._shape(t - b) for b in self._blinks), default=1.0)

    def _shape(self, dt: float) -> float:
        if dt < 0:
            return 1.0
        if dt < self.close_s:
            return 1.0 - dt / self.close_s
        if dt < self.close_s + self.hold_s:
            return 0.0
        return min(1.0, (dt - self.close_s - self.hold_s) / self.open_s)


@dataclass
class Gaze:
    """Where the head and eyes point, -1 (one side) .. 1 (other side), eased toward a target.

    ``ease_s`` is the time constant of the approach: turning to look at a partner takes a few
    tenths of a second, never a jump.
    """

    ease_s: float = 0.35
    value: float = 0.0
    target: float = 0.0

    def update(self, dt: float) -> float:
        alpha = 1.0 - math.exp(-max(0.0, dt) / self.ease_s)
        self.value += (self.target - self.value) * alpha
        return self.value


class IdleMotion:
    """All idle parameters of one avatar at time ``t`` (VTube Studio default input names).

    Parameters
    ----------
    seed:
        Seeds every random choice (blink times, noise knots); two avatars get different seeds
        so they never blink in unison.
    amplitude:
        Scales head and eye wandering (1.0 = a calm host).
    """

    def __init__(self, seed: int, *, amplitude: float = 1.0):
        rng = random.Random(seed)
        self.amplitude = amplitude
        self.blinker = Blinker(random.Random(rng.random()))
        self.gaze = Gaze()
        self._head_x = SmoothNoise(random.Random(rng.random()), 2.7)
        self._head_y = SmoothNoise(random.Random(rng.random()), 3.3)
        self._head_z = SmoothNoise(random.Random(rng.random()), 4.1)
        self._eye_x = SmoothNoise(random.Random(rng.random()), 1.9)
        self._eye_y = SmoothNoise(random.Random(rng.random()), 2.3)
        self._breath_offset = rng.uniform(0.0, 4.0)
        self._last_t: float | None = None

    def values(self, t: float) -> dict[str, float]:
        """Parameter values at ``t``: head angles in degrees, eyes -1..1, eyelids 0..1."""
        dt = 0.0 if self._last_t is None else t - self._last_t
        self._last_t = t
        look = self.gaze.update(dt)
        a = self.amplitude
        eyes = self.blinker.openness(t)
        inhale = breath(t + self._breath_offset)
        return {
            "FaceAngleX": 14.0 * look + 4.0 * a * self._head_x(t),
            "FaceAngleY": 2.5 * a * self._head_y(t) + 1.5 * inhale,
            "FaceAngleZ": 3.0 * a * self._head_z(t),
            "FacePositionY": 0.6 * inhale,
            "EyeLeftX": _clamp(0.55 * look + 0.25 * a * self._eye_x(t)),
            "EyeRightX": _clamp(0.55 * look + 0.25 * a * self._eye_x(t)),
            "EyeLeftY": _clamp(0.15 * a * self._eye_y(t)),
            "EyeRightY": _clamp(0.15 * a * self._eye_y(t)),
            "EyeOpenLeft": eyes,
            "EyeOpenRight": eyes,
        }


def _clamp(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x
