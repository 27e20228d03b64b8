"""nodes.watch.frames: downscaling first, JPEGs that fit the bus, and saying once."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nodes.watch.frames import LOWEST_QUALITY, Lookout, downscale, encode_jpeg, scaled_size


def noise(width: int, height: int, seed: int = 1) -> Image.Image:
    """The hardest picture for JPEG: random pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2:] = (0, 0, 255)
    return Image.fromarray(pixels)


class TestScaledSize:
    @pytest.mark.parametrize(("size", "target", "expected"), [
        ((1280, 720), 640, (640, 360)),    # the default: half
        ((1920, 1080), 640, (640, 360)),   # a whole factor of 3
        ((1366, 768), 640, (640, 360)),    # 768 * 640 / 1366 = 359.8
        ((402, 429), 640, (402, 429)),     # narrower than asked: as it is, never upscaled
        ((5000, 1), 640, (640, 1)),        # never below one pixel
    ])
    def test_sizes(self, size: tuple[int, int], target: int, expected: tuple[int, int]) -> None:
        assert scaled_size(*size, target) == expected


class TestDownscale:
    @pytest.mark.parametrize("size", [(1280, 720), (1366, 768), (1920, 1080), (641, 100)])
    def test_width_and_content(self, size: tuple[int, int]) -> None:
        small = np.asarray(downscale(halves(*size), 640))
        assert small.shape[1] == 640
        assert small.shape[0] == scaled_size(*size, 640)[1]
        left, right = small[:, 10], small[:, -10]
        assert (left[:, 0] > 200).all() and (left[:, 2] < 50).all()  # still red on the left
        assert (right[:, 2] > 200).all() and (right[:, 0] < 50).all()

    def test_narrow_picture_is_the_same_object(self) -> None:
        picture = halves(320, 200)
        assert downscale(picture, 640) is picture


class TestEncodeJpeg:
    def test_small_enough_at_the_asked_quality(self) -> None:
        encoded = encode_jpeg(halves(640, 360), 80, 256 * 1024)
        assert encoded is not None
        assert (encoded.quality, encoded.shrunk) == (80, False)
        assert (encoded.width, encoded.height) == (640, 360)
        assert Image.open(io.BytesIO(encoded.data)).format == "JPEG"

    def test_lower_quality_before_smaller_size(self) -> None:
        picture = noise(320, 180)
        at_80 = len(encode_jpeg(picture, 80, 1 << 30).data)  # type: ignore[union-attr]
        at_50 = len(encode_jpeg(picture, 50, 1 << 30).data)  # type: ignore[union-attr]
        encoded = encode_jpeg(picture, 80, (at_80 + at_50) // 2)
        assert encoded is not None and encoded.shrunk
        assert encoded.quality < 80
        assert (encoded.width, encoded.height) == (320, 180)

    def test_too_big_at_the_lowest_quality_gets_smaller(self) -> None:
        encoded = encode_jpeg(noise(640, 360), 80, 8 * 1024)
        assert encoded is not None and encoded.shrunk
        assert encoded.quality == LOWEST_QUALITY
        assert encoded.width < 640 and len(encoded.data) <= 8 * 1024
        decoded = Image.open(io.BytesIO(encoded.data))
        assert decoded.size == (encoded.width, encoded.height)

    def test_a_budget_nothing_fits_says_none(self) -> None:
        assert encode_jpeg(noise(64, 64), 80, 50) is None

    @settings(max_examples=60, derandomize=True, print_blob=True, deadline=None)
    @given(width=st.integers(1, 400), height=st.integers(1, 300),
           quality=st.integers(20, 95), budget=st.integers(2048, 200_000))
    def test_fits_the_budget_or_says_none(self, width: int, height: int, quality: int,
                                          budget: int) -> None:
        encoded = encode_jpeg(noise(width, height, seed=width * height), quality, budget)
        assert encoded is not None  # a 16-px-wide JPEG is far under 2 KiB
        assert len(encoded.data) <= budget
        assert encoded.width <= width and encoded.height <= height


class TestLookout:
    def test_missing_and_back_are_said_once(self) -> None:
        lookout = Lookout()
        said = [lookout.saw(present, now) for now, present in
                [(0, True), (1, False), (2, False), (3, False), (4, True), (5, True), (6, False)]]
        assert said == [None, "missing", None, None, "back", None, "missing"]

    def test_looked_for_every_retry_s_while_missing(self) -> None:
        lookout = Lookout()
        assert lookout.due(0.0, 3.0)
        lookout.saw(False, 10.0)
        assert [lookout.due(now, 3.0) for now in (10.5, 12.9, 13.0)] == [False, False, True]
        lookout.saw(True, 13.0)
        assert lookout.due(13.1, 3.0)  # there: looked at every frame
