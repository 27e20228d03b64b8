"""The watch node's parameters (read without starting it: ``vtparam describe nodes.watch``).

All take effect when set: ``source`` starts, changes or ('') stops the capture at once,
``fps`` changes the capture timer's period, ``scenes`` applies from the next frame (the scene
so far is kept), the others are read for each frame.
"""

from __future__ import annotations

from typing import Annotated, Any

from bus.params import Parameters, live

__all__ = ["Params"]

SOURCE_PATTERN = r"^(|screen|monitor:[0-9]+|window:.+|region:[0-9]+,[0-9]+,[0-9]+,[0-9]+)$"
LANG_PATTERN = r"^[A-Za-z_]+(\+[A-Za-z_]+)*$"


class Params(Parameters):
    source: Annotated[str, live(
        "what to watch: '' (off), screen, monitor:N, window:TITLE (an X11 window whose name "
        "contains TITLE), region:X,Y,W,H; chat's !watch on|off sets it too",
        pattern=SOURCE_PATTERN, max_length=256)] = ""
    fps: Annotated[float, live("frames captured per second", gt=0, le=30)] = 2.0
    width: Annotated[int, live(
        "frames are downscaled to this width before anything else (never upscaled)",
        ge=32, le=3840)] = 640
    jpeg_quality: Annotated[int, live("JPEG quality of published frames", ge=20, le=95)] = 80
    max_frame_bytes: Annotated[int, live(
        "largest frame published; a bigger one is encoded again at a lower quality, then "
        "smaller (counted as frames_shrunk)", ge=4096, le=8 * 1024 * 1024)] = 256 * 1024
    ocr: Annotated[bool, live("read the text on each new scene's first frame")] = True
    ocr_lang: Annotated[str, live(
        "tesseract language(s), e.g. eng or eng+deu (Debian tesseract-ocr-LANG)",
        pattern=LANG_PATTERN, max_length=64)] = "eng"
    ocr_timeout_s: Annotated[float, live(
        "longest OCR of one frame; then the frame goes out without text", gt=0, le=60)] = 5.0
    scenes: Annotated[dict[str, Any], live(
        "scene detector settings (SceneSettings in nodes/watch/scenes.py: enter, "
        "settle_frames, min_interval_s...), checked when set, used from the next frame")] = {}
    retry_s: Annotated[float, live(
        "how often a missing display or window is looked for again", gt=0, le=600)] = 3.0
    watch_command: Annotated[str, live(
        "chat command of moderators and the broadcaster: !watch on (the last source, else "
        "screen), !watch off", min_length=1, max_length=32)] = "watch"
