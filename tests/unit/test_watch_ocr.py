"""nodes.watch.ocr: the text on a screen, read by the real tesseract and cleaned."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from nodes.watch.ocr import MAX_TEXT_CHARS, OcrError, clean_text, read_text


def screen_with(text: str, *, size: tuple[int, int] = (640, 360)) -> Image.Image:
    """A dark game screen with ``text`` in big white letters."""
    picture = Image.new("RGB", size, (16, 24, 80))
    font = ImageFont.load_default(size=56)
    ImageDraw.Draw(picture).text((40, 140), text, fill="white", font=font)
    return picture


class TestCleanText:
    @pytest.mark.parametrize(("raw", "expected"), [
        ("GAME OVER\n", "GAME OVER"),
        # xbill's status line as tesseract read it, under its menu buttons
        ("Gane |[Info.\n\nBill:4/7 System:9/0/0 Level: Score:0\n",
         "Gane Info. Bill:4/7 System:9/0/0 Level Score:0"),
        # sprites read as letters: lines with no word of two letters or a number go
        ("=\n\na\n\nx\n\nsa\n\n&\n\nLEVEL 1\n", "sa LEVEL 1"),
        ("  \n\n", ""),
        ("—— ) ~ |\n", ""),
        ("Press START!\n", "Press START!"),
    ])
    def test_cleaning(self, raw: str, expected: str) -> None:
        assert clean_text(raw) == expected

    def test_bounded_at_a_word(self) -> None:
        text = clean_text("word " * 200)
        assert len(text) <= MAX_TEXT_CHARS and text.endswith("word")

    @settings(max_examples=300, derandomize=True, print_blob=True)
    @given(st.text(max_size=2000))
    def test_bounded_one_line_and_stable(self, raw: str) -> None:
        text = clean_text(raw)
        assert len(text) <= MAX_TEXT_CHARS
        assert "\n" not in text and "  " not in text and text == text.strip()
        assert clean_text(text) == text


class TestReadText:
    def test_big_text_is_read(self) -> None:
        assert read_text(screen_with("GAME OVER"), "eng", 10.0) == "GAME OVER"

    def test_a_language_without_data_says_how_to_install_it(self) -> None:
        with pytest.raises(OcrError, match=r"'zzz'.*apt-get install tesseract-ocr-zzz"):
            read_text(screen_with("LEVEL 1"), "zzz", 10.0)

    def test_past_its_deadline_tesseract_is_stopped(self) -> None:
        with pytest.raises(OcrError, match=r"longer than 0.001 s \(ocr_timeout_s\)"):
            read_text(screen_with("LEVEL 1", size=(1920, 1080)), "eng", 0.001)
