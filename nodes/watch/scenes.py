"""When the picture on screen becomes a new scene: a cut, a menu opening, a fade to a death screen.

Pure logic: the caller passes each downscaled frame (HxWx3 uint8 RGB, e.g. 640x360) and the clock
(``time.monotonic()`` seconds); nothing here touches the bus or the display.

How a frame is compared
-----------------------
Every frame is reduced to a small colour thumbnail (`SceneSettings.grid_width` x ``grid_height``
cells, each the mean colour of its block of pixels). Averaging a block of ~100+ pixels makes sensor
noise and compression artefacts vanish (uniform noise of +-128 on 10x10 pixels moves a cell's mean
by ~0.03 of full scale), while anything big enough to matter moves whole cells. A cell *differs*
when one of its colour channels moved by more than ``cell_threshold``; ``change`` is the share of
cells that differ from the current scene's reference. This is an average-hash with a margin: a
plain hash flips bits on noise near the threshold, and a colour histogram could only move as far
as the share of cells that changed while staying blind to a new layout in the same colours (a new
menu over the same background), so neither adds anything here.

Why a HUD, a cursor or a sprite is not a scene
----------------------------------------------
A frame is a candidate only when ``change`` (an *area*: the share of the picture that differs)
reaches ``enter``. A flickering HUD corner, a blinking cursor or a small sprite moving covers a
few cells, far below it (the generated clip's distractors: about 4% together), however much they
change themselves.

Hysteresis
----------
The comparison is against the current scene's reference, not only the frame before, so a slow fade
adds up to one change, and a HUD flickering back and forth never adds up at all. A candidate
becomes a new scene only once the picture has *settled*: ``settle_frames`` consecutive frames that
differ from the reference and not from each other (moved area below ``enter`` at the finer
``still_threshold``, raised to `NOISE_MARGIN` times the measured noise floor on a noisy picture),
so a one-frame flash is not a scene, and a fade counts once, where it ends. A picture that never
sits still (a video, a racing game) counts after ``restless_s`` of differing.
No new scene is declared within ``min_interval_s`` of the last one (or of the first frame): a
settled candidate waits and is declared once the interval has passed, if it is still there.
"""

from __future__ import annotations

import math
from collections import deque

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = ["NOISE_MARGIN", "NOISE_WINDOW", "SceneDetector", "SceneSettings", "Verdict", "check_frame",
           "thumbnail"]

NOISE_WINDOW = 30
"""Frames over which the noise floor is the quietest frame-to-frame move (15 s at 2 fps: longer
than a fade, so a fade does not raise the floor it is measured against)."""
NOISE_MARGIN = 2.0
"""A cell moved when it moved this many noise floors (the median cell's move on the quietest
recent frame), if that is more than ``still_threshold``. Twice the median of the largest of three
channels' moves is ~2.5 standard deviations of the noise: noise alone moves a few percent of the
cells, far below ``enter``. Measured on generated clips (noise up to 25 levels, cells of 5x5 to
20x20 pixels, fades up to 8 s): 2.0 kept precision at 1.0 where 4.0 split fades (0.82..0.93)."""

Frame = npt.NDArray[np.uint8]
Thumb = npt.NDArray[np.float32]


class SceneSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Settings of the scene detector (the defaults meet precision and recall >= 0.95 on the
    generated clips of `nodes.watch.clips`, see its ``score``).

    Attributes
    ----------
    grid_width, grid_height:
        Thumbnail cells across and down (32x18: 20x20-pixel cells at 640x360, 10x10 at 320x180,
        so noise averages out, while a menu covering a fifth of the screen is ~115 cells).
    cell_threshold:
        How far one colour channel of a cell must move (0..1 of full scale) for the cell to
        differ from the scene's reference (0.1: about 25 levels of 255).
    still_threshold:
        The finer margin for "the picture moved" between frames: motion, and whether a
        candidate has settled; raised to `NOISE_MARGIN` times the measured noise floor on a
        noisy picture (0.015: a fade of 8 s at 2 fps moves its cells more than this a frame).
    enter:
        Share of the cells (0..1) that must differ from the reference for a frame to be a
        candidate new scene; anything smaller (a HUD corner, a cursor, a sprite) never is.
    settle_frames:
        Consecutive settled frames a candidate needs (2: a one-frame flash is not a scene).
    min_interval_s:
        No new scene within this many seconds of the last one (or of the first frame).
    restless_s:
        A picture that differs from the reference this long without settling (a video, a
        racing game) is a new scene anyway (10 s: longer than a slow fade, else it counts twice).
    """

    grid_width: int = 32
    grid_height: int = 18
    cell_threshold: float = 0.1
    still_threshold: float = 0.015
    enter: float = 0.2
    settle_frames: int = 2
    min_interval_s: float = 2.0
    restless_s: float = 10.0

    def __post_init__(self) -> None:
        if not (1 <= self.grid_width <= 256 and 1 <= self.grid_height <= 256):
            raise ValueError(f"grid_width and grid_height must be 1..256, got "
                             f"{self.grid_width}x{self.grid_height}")
        for name in ("cell_threshold", "still_threshold", "enter"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.settle_frames < 1:
            raise ValueError(f"settle_frames must be >= 1, got {self.settle_frames}")
        for name in ("min_interval_s", "restless_s"):
            value = getattr(self, name)
            if not (value >= 0.0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")


class Verdict(msgspec.Struct, frozen=True):
    """What the detector made of one frame.

    Attributes
    ----------
    changed:
        This frame starts a new scene (never the very first frame: there is nothing before it).
    change:
        Share of the picture (0..1) that differs from the scene before: on a ``changed`` frame
        from the scene it ends, otherwise from the current scene's reference.
    motion:
        Share of the picture (0..1) that moved since the frame before (by more than
        ``still_threshold`` or the noise, whichever is more).
    scene:
        Which scene the frame belongs to: 0 from the first frame, one more at each change.
    """

    changed: bool
    change: float
    motion: float
    scene: int


def check_frame(frame: object) -> Frame:
    """The frame itself if it is an HxWx3 uint8 array with at least one pixel, else a ValueError
    that says what arrived and how to convert it."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"expected a numpy HxWx3 uint8 RGB frame, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB frame, got shape {frame.shape} dtype "
                         f"{frame.dtype} (mss gives BGRA: use frame[:, :, 2::-1])")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"expected a frame with at least one pixel, got shape {frame.shape}")
    return frame


def _block_starts(size: int, cells: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Where each of ``cells`` blocks starts along an axis of ``size`` pixels, and how many pixels
    it averages (a frame smaller than the grid repeats pixels: a block of one)."""
    starts = (np.arange(cells, dtype=np.intp) * size) // cells
    counts = np.maximum(np.diff(np.append(starts, size)), 1)
    return starts, counts


def thumbnail(frame: Frame, width: int, height: int) -> Thumb:
    """The frame as ``height`` x ``width`` cells of mean colour, 0..1 per channel (area average,
    any frame size, even smaller than the grid)."""
    rows, row_counts = _block_starts(frame.shape[0], height)
    cols, col_counts = _block_starts(frame.shape[1], width)
    # reduceat on a block start equal to the next one yields that single row: count 1 (above)
    sums = np.add.reduceat(np.add.reduceat(frame, rows, axis=0, dtype=np.uint32), cols, axis=1)
    area = (row_counts[:, None] * col_counts[None, :]).astype(np.float32)[:, :, None]
    return (sums.astype(np.float32) / (area * 255.0)).astype(np.float32)


def _differing(a: Thumb, b: Thumb, threshold: float) -> float:
    """Share of cells where some colour channel moved by more than ``threshold``."""
    return float(np.mean(np.abs(a - b).max(axis=2) > threshold))


class SceneDetector:
    """Feed it every frame with the time it was taken; it says when a new scene starts.

    Parameters
    ----------
    settings:
        `SceneSettings`; the defaults if left out.
    """

    def __init__(self, settings: SceneSettings | None = None) -> None:
        self._settings = settings or SceneSettings()
        self.reset()

    @property
    def settings(self) -> SceneSettings:
        return self._settings

    @property
    def scene(self) -> int:
        """The current scene's number (0 until the first change)."""
        return self._scene

    def reset(self) -> None:
        """Forget everything: the next frame is a first frame of scene 0 (a new source)."""
        self._reference: Thumb | None = None
        self._previous: Thumb | None = None
        self._jitter: deque[float] = deque(maxlen=NOISE_WINDOW)  # median cell move, frame to frame
        self._anchor: Thumb | None = None  # first frame of the current settled stretch
        self._settled = 0
        self._differs_since: float | None = None
        self._last_change = 0.0
        self._scene = 0

    def reconfigure(self, settings: SceneSettings) -> None:
        """New settings from the next frame on; the scene so far is kept unless the thumbnail's
        grid changed (old thumbnails cannot be compared with new ones: starts over)."""
        regrid = (settings.grid_width, settings.grid_height) != (
            self._settings.grid_width, self._settings.grid_height)
        self._settings = settings
        if regrid:
            self.reset()

    def feed(self, frame: Frame, now: float) -> Verdict:
        """The verdict on ``frame`` (HxWx3 uint8 RGB), taken at ``now`` (seconds)."""
        s = self._settings
        thumb = thumbnail(check_frame(frame), s.grid_width, s.grid_height)
        if self._reference is None or self._previous is None:
            self._reference = self._previous = thumb
            self._last_change = now
            return Verdict(changed=False, change=0.0, motion=0.0, scene=self._scene)
        moved = np.abs(thumb - self._previous).max(axis=2)
        self._jitter.append(float(np.median(moved)))
        # noise never lifts the margin past cell_threshold: a move that big is a change (else a
        # long camera pan raised its own floor and then "settled" every min_interval_s)
        margin = max(s.still_threshold, min(NOISE_MARGIN * min(self._jitter), s.cell_threshold))
        motion = float(np.mean(moved > margin))
        self._previous = thumb
        change = _differing(thumb, self._reference, s.cell_threshold)
        if change < s.enter:  # the same scene (or back to it after a flash)
            self._anchor, self._settled, self._differs_since = None, 0, None
            return Verdict(changed=False, change=change, motion=motion, scene=self._scene)
        if self._differs_since is None:
            self._differs_since = now
        if self._anchor is None or _differing(thumb, self._anchor, margin) >= s.enter:
            self._anchor, self._settled = thumb, 1  # still moving: settling starts again here
        else:
            self._settled += 1
        settled = self._settled >= s.settle_frames or now - self._differs_since >= s.restless_s
        if not (settled and now - self._last_change >= s.min_interval_s):
            return Verdict(changed=False, change=change, motion=motion, scene=self._scene)
        self._scene += 1
        self._reference, self._last_change = thumb, now
        self._anchor, self._settled, self._differs_since = None, 0, None
        return Verdict(changed=True, change=change, motion=motion, scene=self._scene)
