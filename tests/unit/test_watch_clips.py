"""The generated clips the scene detector is measured on: deterministic, labelled changes that are
big by construction, distractors that are there and small, flashes that are flashes; and the
precision/recall score."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nodes.watch.clips import (
    CHANGE_KINDS,
    MIN_CHANGED_LEVELS,
    MIN_CHANGED_SHARE,
    Clip,
    detect,
    generated_clip,
    score,
)
from nodes.watch.scenes import Verdict


def moved(a: np.ndarray, b: np.ndarray, levels: int = MIN_CHANGED_LEVELS) -> float:
    """Share of pixels where some channel moved by ``levels`` or more."""
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) >= levels).mean())


@pytest.fixture(scope="module")
def clip() -> Clip:
    """Two minutes at 2 fps, 160x90, without noise or blockiness (so pixels compare exactly)."""
    return generated_clip(3, seconds=120.0, width=160, height=90, noise=0.0, blocky=False)


class TestGeneratedClip:
    def test_shape_and_clock(self) -> None:
        short = generated_clip(0, seconds=5.0, fps=4.0, width=64, height=36)
        assert short.frames.shape == (20, 36, 64, 3) and short.frames.dtype == np.uint8
        assert short.fps == 4.0

    def test_the_same_seed_gives_the_same_clip_another_seed_another(self) -> None:
        a, b = (generated_clip(5, seconds=20.0, width=64, height=36) for _ in range(2))
        other = generated_clip(6, seconds=20.0, width=64, height=36)
        assert np.array_equal(a.frames, b.frames) and a.labels == b.labels
        assert not np.array_equal(a.frames, other.frames)

    def test_labels_are_ordered_spaced_and_of_every_kind(self, clip: Clip) -> None:
        assert len(clip.labels) == len(clip.kinds) >= 8
        assert clip.labels[0] > 0
        # a scene holds at least hold_s[0] = 4 s = 8 frames before the next change begins
        assert all(b - a >= 8 for a, b in itertools.pairwise([*clip.labels, len(clip.frames)]))
        assert set(clip.kinds) == set(CHANGE_KINDS)
        assert not set(clip.labels) & set(clip.flashes)

    def test_a_change_that_is_not_a_fade_is_big_from_one_frame_to_the_next(self, clip: Clip) -> None:
        for label, kind in zip(clip.labels, clip.kinds, strict=True):
            if kind != "fade":
                # the distractors may cover a little of what changed
                assert moved(clip.frames[label - 1], clip.frames[label]) >= MIN_CHANGED_SHARE - 0.03, (
                    label, kind)

    def test_a_fade_is_gradual_and_big_in_the_end(self, clip: Clip) -> None:
        fades = [label for label, kind in zip(clip.labels, clip.kinds, strict=True) if kind == "fade"]
        assert fades
        for label in fades:
            # 2..4 s at 2 fps: 4..8 steps; each step moves less than the whole
            assert moved(clip.frames[label - 1], clip.frames[label]) < MIN_CHANGED_SHARE
            before = clip.frames[label - 10]  # in the scene before: the fade took at most 8
            assert moved(before, clip.frames[label]) >= MIN_CHANGED_SHARE - 0.03

    def test_between_changes_only_distractors_move_a_little(self, clip: Clip) -> None:
        changing = {label - k for label in clip.labels for k in range(10)}  # fades included
        flashing = {f + k for f in clip.flashes for k in (0, 1)}
        steady = [i for i in range(1, len(clip.frames)) if i not in changing | flashing]
        shares = [moved(clip.frames[i - 1], clip.frames[i]) for i in steady]
        assert max(shares) < 0.05  # HUD corner, cursor and sprite: small
        assert np.mean([share > 0 for share in shares]) > 0.9  # and they are there

    def test_a_flash_is_one_bright_frame(self, clip: Clip) -> None:
        assert clip.flashes
        for flash in clip.flashes:
            brightness = [float(clip.frames[i].mean()) for i in (flash - 1, flash, flash + 1)]
            assert brightness[1] >= 0.8 * 255 and brightness[1] > max(brightness[0], brightness[2])
            assert moved(clip.frames[flash - 1], clip.frames[flash + 1]) < 0.05

    def test_noise_and_blockiness_are_applied(self) -> None:
        clean = generated_clip(1, seconds=3.0, width=64, height=32, noise=0.0, blocky=False)
        rough = generated_clip(1, seconds=3.0, width=64, height=32)
        difference = np.abs(clean.frames.astype(np.int16) - rough.frames.astype(np.int16))
        assert 1.0 < difference.mean() < 12.0  # everywhere a little, nowhere a scene
        assert clean.labels == rough.labels


def verdicts(changed_at: list[int], count: int) -> list[Verdict]:
    return [Verdict(changed=i in changed_at, change=0.0, motion=0.0, scene=0) for i in range(count)]


class TestScore:
    @pytest.fixture
    def labelled(self) -> Clip:
        return Clip(frames=np.zeros((60, 1, 1, 3), np.uint8), labels=[10, 30, 50],
                    kinds=["cut"] * 3, flashes=[], fps=2.0)

    # (detected frames, precision, recall)
    @pytest.mark.parametrize(("detected", "expected"), [
        ([10, 30, 50], (1.0, 1.0)),
        ([13, 27, 50], (1.0, 1.0)),  # within 3 frames either side
        ([14, 30, 50], (2 / 3, 2 / 3)),  # 4 frames late: a miss and a false alarm
        ([11, 12, 30, 50], (3 / 4, 1.0)),  # one label matches one detection only
        ([10, 30], (1.0, 2 / 3)),
        ([], (1.0, 0.0)),
        ([5, 20, 40], (0.0, 0.0)),
    ])
    def test_precision_and_recall(self, labelled: Clip, detected: list[int],
                                  expected: tuple[float, float]) -> None:
        assert score(labelled, verdicts(detected, 60)) == pytest.approx(expected)

    def test_a_tighter_tolerance(self, labelled: Clip) -> None:
        assert score(labelled, verdicts([11, 30, 50], 60), tolerance=0) == pytest.approx((2 / 3, 2 / 3))

    def test_nothing_labelled_nothing_detected_is_perfect(self, labelled: Clip) -> None:
        still = Clip(frames=labelled.frames, labels=[], kinds=[], flashes=[], fps=2.0)
        assert score(still, verdicts([], 60)) == (1.0, 1.0)
        assert score(still, verdicts([7], 60)) == (0.0, 1.0)

    def test_one_verdict_per_frame_or_a_clear_error(self, labelled: Clip) -> None:
        with pytest.raises(ValueError, match=r"one verdict per frame \(60\), got 59"):
            score(labelled, verdicts([], 59))

    def test_detect_feeds_every_frame_on_the_clip_clock(self) -> None:
        clip = generated_clip(2, seconds=30.0, width=64, height=36)
        result = detect(clip)
        assert len(result) == len(clip.frames)
        assert result[-1].scene == sum(v.changed for v in result)
