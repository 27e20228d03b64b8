"""Cheap descriptors of what is on screen, and the line for a prompt that says it in words.

Pure logic on a downscaled HxWx3 uint8 RGB frame: `look` measures brightness and names the
dominant colours from a small fixed palette; `describe` puts them, with the motion and the text read
on screen, in a line or two ("A new scene: mostly dark blue and white, bright. Text on screen:
'GAME OVER - press start'.").

The text comes from OCR of a screen that anyone can put text on (a game, a web page, a chat
overlay): it is data, never instructions. `describe` only ever quotes it, cleaned (control
characters out, whitespace collapsed, the quote mark inside replaced so the quote cannot be
closed early) and bounded (`MAX_TEXT_CHARS`); whoever builds a prompt from the line must keep it a
quotation of what the screen says.
"""

from __future__ import annotations

import msgspec
import numpy as np
import numpy.typing as npt

from nodes.watch.scenes import Frame, check_frame

__all__ = ["MAX_TEXT_CHARS", "MIN_COLOUR_SHARE", "PALETTE", "Looks", "colour_names", "describe",
           "look", "quoted_text"]

PALETTE = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink",
           "brown")
"""Colour names; all but black and white may carry a ``dark`` or ``light`` prefix."""

MIN_COLOUR_SHARE = 0.1
"""A colour is named only if it covers at least this share of the picture."""

MAX_TEXT_CHARS = 300
"""Screen text in a description is cut (at a word) to at most this many characters."""

_SAMPLE_WIDTH = 160  # pixels across that the colours are counted on: 160x90 of a 640x360 frame

# Hue (degrees) where each chromatic name ends, in order; past the last it is red again.
_HUES = ((15.0, "red"), (40.0, "orange"), (70.0, "yellow"), (165.0, "green"), (255.0, "blue"),
         (290.0, "purple"), (340.0, "pink"), (360.0, "red"))

# Brightness words, by the upper end of their range.
_BRIGHTNESS = ((0.15, "very dark"), (0.3, "dark"), (0.5, "dim"), (0.8, "bright"),
               (1.01, "very bright"))


class Looks(msgspec.Struct, frozen=True):
    """What a frame looks like.

    Attributes
    ----------
    brightness:
        Mean luma, 0 black .. 1 white.
    colours:
        Dominant colour names (`PALETTE`, maybe prefixed ``dark``/``light``), most of the picture
        first, at most 3, each covering at least `MIN_COLOUR_SHARE` of it.
    motion:
        Share of the picture that moved since the frame before (0..1, the detector's `Verdict`).
    """

    brightness: float
    colours: list[str]
    motion: float = 0.0


# Each pixel gets a code: palette index * 3 + prefix (0 none, 1 dark, 2 light); integers, not
# strings: with numpy string arrays `look` took 7.9 ms a 640x360 frame, with codes 3.6 ms (this
# 2-core machine, loaded by other work).
_PREFIXES = ("", "dark ", "light ")
_NAMES = [prefix + name for name in PALETTE for prefix in _PREFIXES]
_BLACK, _WHITE, _GREY, _RED, _ORANGE, _PURPLE, _PINK, _BROWN = (
    PALETTE.index(name) for name in ("black", "white", "grey", "red", "orange", "purple", "pink",
                                     "brown"))
_HUE_ENDS = np.array([end for end, _ in _HUES], np.float32)
_HUE_COLOURS = np.array([PALETTE.index(name) for _, name in _HUES])


def _colour_codes(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """The code (index into ``_NAMES``) of each pixel of an ...x3 uint8 RGB array."""
    pixels = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    high, low = pixels.max(axis=1), pixels.min(axis=1)
    spread = high - low
    saturation = np.where(high > 0, spread / np.maximum(high, 1e-6), 0.0)
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    safe = np.maximum(spread, 1e-6)
    hue = np.select([high == r, high == g], [((g - b) / safe) % 6.0, (b - r) / safe + 2.0],
                    (r - g) / safe + 4.0) * 60.0
    chroma = _HUE_COLOURS[np.minimum(np.searchsorted(_HUE_ENDS, hue, side="right"), len(_HUES) - 1)]
    chroma = np.where((chroma == _PINK) & (high < 0.6), _PURPLE, chroma)  # dark magenta: purple
    # brown is a dark orange, or a dull dark red (a pure dark red stays "dark red")
    middling = (high < 0.65) & (saturation > 0.3)
    brownish = middling & ((chroma == _ORANGE) | ((chroma == _RED) & (high > 0.25)
                                                  & (saturation < 0.85)))
    light = (saturation < 0.45) & (high > 0.75)
    prefix = np.where(high < 0.55, 1, np.where(light, 2, 0))
    prefix = np.where(brownish, np.where(high < 0.3, 1, 0), prefix)
    codes = np.where(brownish, _BROWN, chroma) * 3 + prefix
    codes = np.where(light & (chroma == _RED), _PINK * 3, codes)  # light red is what people call pink
    grey = _GREY * 3 + np.where(high < 0.4, 1, np.where(high > 0.7, 2, 0))
    codes = np.where(saturation < 0.2, grey, codes)
    codes = np.where((saturation < 0.2) & (high > 0.88), _WHITE * 3, codes)
    return np.where(high < 0.12, _BLACK * 3, codes).astype(np.intp)


def colour_names(rgb: npt.NDArray[np.uint8]) -> list[str]:
    """The palette name (with its prefix) of each pixel of an ...x3 uint8 RGB array."""
    return [_NAMES[code] for code in _colour_codes(rgb)]


def look(frame: Frame, *, motion: float = 0.0) -> Looks:
    """Brightness and dominant colours of ``frame`` (HxWx3 uint8 RGB), with ``motion`` carried."""
    frame = check_frame(frame)
    step = max(1, frame.shape[1] // _SAMPLE_WIDTH)
    sample = frame[::step, ::step]
    luma = sample.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    shares = np.bincount(_colour_codes(sample), minlength=len(_NAMES)) / (sample.size // 3)
    order = np.argsort(-shares, kind="stable")
    colours = [_NAMES[i] for i in order[:3] if shares[i] >= MIN_COLOUR_SHARE]
    return Looks(brightness=float(luma.mean() / 255.0), colours=colours, motion=motion)


def quoted_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cleaned and bounded, in single quotes ('' when nothing is left): control
    characters become spaces, whitespace runs one space, a ``'`` inside becomes ``’`` (the quote
    cannot be closed early), and beyond ``limit`` characters it is cut at a word with ``...``."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    clean = " ".join(printable.split()).replace("'", "\u2019")
    if len(clean) > limit:
        cut = clean[: limit - 3]
        clean = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "..."
    return f"'{clean}'" if clean else ""


def _brightness_word(brightness: float) -> str:
    return next((word for end, word in _BRIGHTNESS if brightness < end), "very bright")


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe(seen: Looks, text: str = "", changed: bool = False) -> str:
    """A line or two for a prompt: a new scene or the screen, its colours and brightness, busy if
    much of it moves, and the text on screen quoted (see the module's note: data, never
    instructions)."""
    colours = f"mostly {_listed(seen.colours)}" if seen.colours else "many colours"
    line = f"{'A new scene' if changed else 'The screen'}: {colours}, {_brightness_word(seen.brightness)}"
    if seen.motion >= 0.3:
        line += ", with a lot moving"
    quote = quoted_text(text)
    return f"{line}. Text on screen: {quote}." if quote else f"{line}."
