"""A generated screen recording with known scene changes, to test and measure the scene detector.

`generated_clip` draws, from a seed, a sequence of scenes (backgrounds, panels, blocks of "text"
drawn as rows of glyph-sized rectangles) joined by the changes the detector must find: a cut to a
new scene, a menu opening or closing over the scene, the panels moving to a new layout, and a slow
crossfade (to a dark "death screen" half the time), labelled once, at the first frame fully in the
new scene. Between changes run the distractors it must ignore: a HUD corner that flickers, a
blinking cursor, a small sprite moving, a one-frame flash, sensor-like noise on every pixel and
JPEG-like 8x8 blockiness. Every labelled change is a big one by construction (at least
`MIN_CHANGED_SHARE` of the pixels move by `MIN_CHANGED_LEVELS` levels or more), so the labels do
not depend on the detector's thresholds.

`score` matches detected changes to the labels; `detect` runs a `SceneDetector` over a clip with
the clip's own clock. Used by tests/unit/test_watch_scenes.py and benchmarks/watch.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from nodes.watch.scenes import SceneDetector, SceneSettings, Verdict

__all__ = ["CHANGE_KINDS", "MIN_CHANGED_LEVELS", "MIN_CHANGED_SHARE", "Clip", "detect",
           "generated_clip", "score"]

CHANGE_KINDS = ("cut", "menu", "layout", "fade")
"""Kinds of labelled change, in `Clip.kinds`."""

MIN_CHANGED_SHARE = 0.3
"""Every labelled change moves at least this share of the pixels ..."""
MIN_CHANGED_LEVELS = 40
"""... by at least this many levels (of 255) in some colour channel."""

Colour = tuple[int, int, int]
Image = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Clip:
    """A generated clip.

    Attributes
    ----------
    frames:
        N x H x W x 3 uint8 RGB.
    labels:
        Index of each frame that starts a new scene, ascending (never frame 0; each new scene
        holds at least ``hold_s[0]`` seconds within the clip).
    kinds:
        What each labelled change is (`CHANGE_KINDS`), one per label.
    flashes:
        Index of each one-frame flash (not a change).
    fps:
        Frames per second: frame ``i`` was taken at ``i / fps`` seconds.
    """

    frames: npt.NDArray[np.uint8]
    labels: list[int]
    kinds: list[str]
    flashes: list[int]
    fps: float


@dataclass(frozen=True)
class _Rect:
    """A filled rectangle, corners as fractions of the frame's width and height."""

    x0: float
    y0: float
    x1: float
    y1: float
    colour: Colour


@dataclass(frozen=True)
class _Layout:
    """A scene: a vertical gradient and rectangles over it (``menu``: the open menu's rects)."""

    top: Colour
    bottom: Colour
    rects: tuple[_Rect, ...]
    menu: tuple[_Rect, ...] = ()


def _colour(rng: np.random.Generator, *, dark: bool = False) -> Colour:
    high = 90 if dark else 256
    r, g, b = (int(v) for v in rng.integers(0, high, 3))
    return r, g, b


def _far(rng: np.random.Generator, other: Colour, *, dark: bool = False) -> Colour:
    """A colour at least 90 levels from ``other`` in some channel (the last draw if none is)."""
    colour = _colour(rng, dark=dark)
    for _ in range(20):
        if max(abs(a - b) for a, b in zip(colour, other, strict=True)) >= 90:
            break
        colour = _colour(rng, dark=dark)
    return colour


def _text(rng: np.random.Generator, box: _Rect, colour: Colour) -> list[_Rect]:
    """Lines of glyph-sized rectangles inside ``box``: what text looks like from afar."""
    glyphs = []
    height = (box.y1 - box.y0) / 4
    for line in range(3):
        y0 = box.y0 + height * (line + 0.5)
        x = box.x0 + 0.02
        while x < box.x1 - 0.04:
            width = float(rng.uniform(0.008, 0.02))
            glyphs.append(_Rect(x, y0, x + width, y0 + height * 0.7, colour))
            x += width + (0.025 if rng.random() < 0.15 else 0.006)  # a space now and then
    return glyphs


def _panel(rng: np.random.Generator, *, low: float, high: float, text: bool) -> list[_Rect]:
    w, h = (float(v) for v in rng.uniform(low, high, 2))
    x0, y0 = float(rng.uniform(0.02, 0.98 - w)), float(rng.uniform(0.1, 0.98 - h))
    panel = _Rect(x0, y0, x0 + w, y0 + h, _colour(rng))
    return [panel, *(_text(rng, panel, _far(rng, panel.colour)) if text else [])]


def _panels(rng: np.random.Generator) -> tuple[_Rect, ...]:
    rects = [rect for _ in range(int(rng.integers(1, 4)))
             for rect in _panel(rng, low=0.15, high=0.4, text=False)]
    rects += _panel(rng, low=0.3, high=0.5, text=True)  # a big text block
    return tuple(rects)


def _scene(rng: np.random.Generator, before: _Layout | None, *, dark: bool = False) -> _Layout:
    top = _far(rng, before.top, dark=dark) if before else _colour(rng, dark=dark)
    bottom = tuple(int(np.clip(v + rng.integers(-40, 41), 0, 255)) for v in top)
    return _Layout(top, bottom, _panels(rng))  # type: ignore[arg-type]


def _render(layout: _Layout, width: int, height: int) -> Image:
    image = np.empty((height, width, 3), np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    image[:] = ((1 - ramp) * np.array(layout.top, np.float32)[None, :]
                + ramp * np.array(layout.bottom, np.float32)[None, :])[:, None, :]
    for rect in (*layout.rects, *layout.menu):
        _fill(image, rect)
    return image


def _fill(image: Image, rect: _Rect) -> None:
    height, width = image.shape[:2]
    x0, x1 = round(rect.x0 * width), max(round(rect.x1 * width), round(rect.x0 * width) + 1)
    y0, y1 = round(rect.y0 * height), max(round(rect.y1 * height), round(rect.y0 * height) + 1)
    image[y0:y1, x0:x1] = rect.colour


def _big_change(a: Image, b: Image) -> bool:
    moved = np.abs(a - b).max(axis=2) >= MIN_CHANGED_LEVELS
    return float(moved.mean()) >= MIN_CHANGED_SHARE


def _next_scene(rng: np.random.Generator, layout: _Layout, kind: str) -> _Layout:
    if kind == "menu" and layout.menu:  # the open menu closes
        return replace(layout, menu=())
    if kind == "menu":
        return replace(layout, menu=tuple(_panel(rng, low=0.45, high=0.7, text=True)))
    if kind == "layout":
        return replace(layout, rects=_panels(rng), menu=())
    return _scene(rng, layout, dark=kind == "fade" and rng.random() < 0.5)


def _big_next_scene(rng: np.random.Generator, layout: _Layout, kind: str, width: int,
                    height: int) -> _Layout | None:
    """The scene after ``layout`` by a change of ``kind``, drawn again (up to 10 times) while
    the change is too small to label; None if it stays too small."""
    before = _render(layout, width, height)
    for _ in range(10):
        after = _next_scene(rng, layout, kind)
        if _big_change(before, _render(after, width, height)):
            return after
    return None


class _Distractors:
    """What moves on screen without making a new scene, drawn over every frame."""

    HUD = _Rect(0.86, 0.02, 0.98, 0.09, (0, 0, 0))
    HUD_COLOURS = ((255, 255, 255), (255, 40, 40), (40, 220, 40))
    SPRITE = (0.05, 0.09)

    def __init__(self, rng: np.random.Generator, fps: float) -> None:
        self._rng = rng
        self._fps = fps
        self._x, self._y = 0.5, 0.5
        self._vx, self._vy = (float(v) for v in rng.uniform(-0.15, 0.15, 2))  # of the frame a second

    def draw(self, image: Image, index: int) -> None:
        rng = self._rng
        if rng.random() < 0.6:  # the HUD corner flickers: a random colour, or not there
            colour = self.HUD_COLOURS[int(rng.integers(len(self.HUD_COLOURS)))]
            _fill(image, replace(self.HUD, colour=colour))
        if int(index * 2 / self._fps) % 2 == 0:  # a cursor blinking at 1 Hz
            _fill(image, _Rect(0.1, 0.86, 0.112, 0.92, (255, 255, 255)))
        w, h = self.SPRITE
        self._x += self._vx / self._fps
        self._y += self._vy / self._fps
        if not 0.0 <= self._x <= 1.0 - w:
            self._vx, self._x = -self._vx, float(np.clip(self._x, 0.0, 1.0 - w))
        if not 0.1 <= self._y <= 1.0 - h:
            self._vy, self._y = -self._vy, float(np.clip(self._y, 0.1, 1.0 - h))
        _fill(image, _Rect(self._x, self._y, self._x + w, self._y + h, (250, 200, 0)))


def _blocky(image: Image) -> Image:
    """JPEG-like 8x8 blocks: each block's detail halved around its mean, levels in steps of 4."""
    height, width = image.shape[:2]
    bh, bw = height // 8 * 8, width // 8 * 8
    blocks = image[:bh, :bw].reshape(bh // 8, 8, bw // 8, 8, 3)
    means = blocks.mean(axis=(1, 3), keepdims=True)
    image[:bh, :bw] = (means + (blocks - means) * 0.5).reshape(bh, bw, 3)
    return (np.round(image / 4) * 4).astype(np.float32)


def generated_clip(seed: int, *, seconds: float = 120.0, fps: float = 2.0, width: int = 320,
                   height: int = 180, noise: float = 6.0, blocky: bool = True,
                   hold_s: tuple[float, float] = (4.0, 10.0), fade_s: tuple[float, float] = (2.0, 4.0),
                   ) -> Clip:
    """A clip drawn from ``seed`` (the same seed gives the same clip).

    Parameters
    ----------
    seed:
        Seeds everything: scenes, changes, distractors, noise.
    seconds, fps, width, height:
        Length, frame rate and frame size (``seconds * fps`` frames of ``width`` x ``height``).
    noise:
        Standard deviation of the per-pixel Gaussian noise, in levels of 255.
    blocky:
        Add JPEG-like 8x8 blockiness.
    hold_s:
        How long each scene holds before the next change, drawn uniformly (seconds).
    fade_s:
        How long a crossfade lasts (seconds).

    Returns
    -------
    Clip
        The frames and the index of each labelled change.
    """
    rng = np.random.default_rng(seed)
    count = max(1, round(seconds * fps))
    layout = _scene(rng, None)
    pictures: list[tuple[_Layout, _Layout | None, float]] = []  # (scene, fading to, how far)
    labels: list[int] = []
    kinds: list[str] = []
    flashes: list[int] = []
    while len(pictures) < count:
        hold = max(1, round(float(rng.uniform(*hold_s)) * fps))
        if hold >= 8 and rng.random() < 0.5:  # a flash, away from both ends of the hold
            flashes.append(len(pictures) + int(rng.integers(3, hold - 3)))
        pictures += [(layout, None, 0.0)] * hold
        kind = CHANGE_KINDS[int(rng.integers(len(CHANGE_KINDS)))]
        after = _big_next_scene(rng, layout, kind, width, height)
        if after is None:  # no big change drawn: the scene holds on
            continue
        steps = max(1, round(float(rng.uniform(*fade_s)) * fps)) if kind == "fade" else 0
        if len(pictures) + steps + round(hold_s[0] * fps) > count:
            break  # the new scene would not hold long enough to be one: the clip ends in this
        pictures += [(layout, after, (step + 1) / (steps + 1)) for step in range(steps)]
        labels.append(len(pictures))
        kinds.append(kind)
        layout = after
    pictures += [(layout, None, 0.0)] * (count - len(pictures))
    frames = np.empty((count, height, width, 3), np.uint8)
    distractors = _Distractors(rng, fps)
    flash_set = set(flashes)
    rendered: dict[_Layout, Image] = {}
    for index, (scene, fading_to, share) in enumerate(pictures[:count]):
        image = rendered.setdefault(scene, _render(scene, width, height)).copy()
        if fading_to is not None:
            target = rendered.setdefault(fading_to, _render(fading_to, width, height))
            image = (1 - share) * image + share * target
        distractors.draw(image, index)
        if index in flash_set:
            image = image * 0.2 + 255 * 0.8
        if blocky:
            image = _blocky(image)
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise)
        frames[index] = np.clip(image, 0, 255).astype(np.uint8)
    return Clip(frames=frames, labels=labels, kinds=kinds,
                flashes=[f for f in flashes if f < count], fps=fps)


def detect(clip: Clip, settings: SceneSettings | None = None) -> list[Verdict]:
    """The detector's verdict on each frame of ``clip``, frame ``i`` fed at ``i / clip.fps``."""
    detector = SceneDetector(settings)
    return [detector.feed(frame, index / clip.fps) for index, frame in enumerate(clip.frames)]


def score(clip: Clip, verdicts: Sequence[Verdict], *, tolerance: int = 3) -> tuple[float, float]:
    """Precision and recall of ``verdicts`` (one per frame) against ``clip``'s labels.

    A detected change matches a labelled one within ``tolerance`` frames either side (each label
    and each detection matches at most once, earliest first). With nothing detected precision is
    1.0; with nothing labelled recall is 1.0.
    """
    if len(verdicts) != len(clip.frames):
        raise ValueError(f"expected one verdict per frame ({len(clip.frames)}), got {len(verdicts)}")
    detected = [index for index, verdict in enumerate(verdicts) if verdict.changed]
    unmatched = list(detected)
    matched = 0
    for label in clip.labels:
        hit = next((d for d in unmatched if abs(d - label) <= tolerance), None)
        if hit is not None:
            unmatched.remove(hit)
            matched += 1
    precision = matched / len(detected) if detected else 1.0
    recall = matched / len(clip.labels) if clip.labels else 1.0
    return precision, recall
