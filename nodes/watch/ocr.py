"""Text on the screen, read with Debian's tesseract (through pytesseract) and cleaned for a
prompt.

`read_text` blocks (the node runs it on a worker thread) and stops tesseract at its deadline
(pytesseract kills the process). It asks for tesseract's automatic page layout first (the
cleanest text) and, when that finds nothing, for sparse text: on xbill's game screen the
automatic layout found nothing in 1 of 5 runs, where sparse text read the menu buttons.

`clean_text` is pure: OCR of a game screen reads sprites as stray letters and symbols; only
words and numbers a person would read out are kept.
"""

from __future__ import annotations

import re
import time

from PIL import Image

from bus.errors import PluginError

__all__ = ["MAX_TEXT_CHARS", "OcrError", "clean_text", "read_text"]

MAX_TEXT_CHARS = 300
"""Longest text kept (a prompt line, not a page)."""
PAGE_MODES = (3, 11)
"""Tesseract's ``--psm``: automatic page segmentation, then sparse text."""
_TOKEN = re.compile(r"\S+")
_WORDISH = re.compile(r"[A-Za-z]{2,}|[0-9]+|^[AaI]$")
_EDGE_JUNK = re.compile(r"^[^\w'\"(]+|[^\w!?.'\")%]+$")


class OcrError(PluginError):
    """Tesseract cannot run: not installed, a language without its data, or past its deadline."""


def read_text(picture: Image.Image, lang: str, timeout_s: float) -> str:
    """The cleaned text tesseract reads on ``picture``; an `OcrError` saying how to fix it
    when it cannot run or does not finish within ``timeout_s``."""
    import pytesseract

    grey, deadline = picture.convert("L"), time.monotonic() + timeout_s
    text = ""
    try:
        for mode in PAGE_MODES:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("Tesseract process timeout")
            text = clean_text(pytesseract.image_to_string(grey, lang=lang, timeout=left,
                                                          config=f"--psm {mode}"))
            if text:
                break
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrError("tesseract is not installed: apt-get install tesseract-ocr "
                       "tesseract-ocr-eng (or set ocr:=false)") from exc
    except pytesseract.TesseractError as exc:
        raise OcrError(f"tesseract failed ({exc.message.strip()}): is the language {lang!r} "
                       f"installed? (apt-get install tesseract-ocr-{lang.split('+')[0]})") from exc
    except RuntimeError as exc:  # pytesseract's "Tesseract process timeout"
        raise OcrError(f"tesseract took longer than {timeout_s:g} s (ocr_timeout_s)") from exc
    return text


def clean_text(raw: str) -> str:
    """The words of ``raw`` worth saying, one space apart, at most `MAX_TEXT_CHARS`: a token
    is kept when it has two letters in a row or a number in it (``Level:1``, ``GAME``,
    ``4/7``), its stray punctuation trimmed; a line with no such token goes."""
    kept: list[str] = []
    for line in raw.splitlines():
        words = [_EDGE_JUNK.sub("", token) for token in _TOKEN.findall(line)]
        words = [w for w in words if w and _WORDISH.search(w)]
        if any(len(w) >= 2 for w in words):
            kept.extend(words)
    text = " ".join(kept)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS].rsplit(" ", 1)[0]
    return text
