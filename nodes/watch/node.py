"""The watch node: grabs the screen (or a monitor, a window, a region) ``fps`` times a second
and publishes every frame on ``game/frame``, small and compressed, with what it saw in it.

Topics in: ``chat/message`` (``!watch on`` / ``!watch off`` from moderators and the
broadcaster). Topics out: ``game/frame`` (`messages.game.GameFrame`), ``chat/say`` (the
command's usage, when it is wrong).

Each frame is grabbed and downscaled to ``width`` on the capture thread
(`nodes.watch.capture`), then judged by the scene detector (`nodes.watch.scenes`) and
encoded to fit ``max_frame_bytes`` (`nodes.watch.frames`) on a worker thread. The first frame
of a watch and of each new scene has its text read (`nodes.watch.ocr`, with a deadline) and
is described (`nodes.watch.looks`) before it is published. One frame is handled at a time: a
tick that finds the last frame still in hand is skipped and counted (``ticks_skipped``).

No display, or a window that is not there, is said once (log and counter) and looked for
again every ``retry_s``; once back, that is said once too. The node never dies of either.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from PIL import Image

from bus.bounded import LogLimiter
from bus.errors import ParameterError
from bus.node import Node, NodeOptions
from bus.worker import Worker
from messages.chat import ChatMessage, ChatSay
from messages.game import GameFrame
from nodes.watch.capture import (
    CaptureError,
    Capturer,
    NoDisplayError,
    Source,
    WindowNotFoundError,
    parse_source,
)
from nodes.watch.frames import SMALLEST_WIDTH, Encoded, Lookout, encode_jpeg
from nodes.watch.looks import Looks, describe, look
from nodes.watch.ocr import OcrError, read_text
from nodes.watch.params import Params
from nodes.watch.scenes import SceneDetector, SceneSettings, Verdict

__all__ = ["WatchNode"]

HOSTS = {"moderator", "broadcaster"}
OCR_GRACE_S = 2.0
"""Past ``ocr_timeout_s`` tesseract is killed by pytesseract; this is the wait's own limit."""


@dataclass
class Watch:
    """One stretch of watching one source: from a set of ``source`` to the next."""

    source: Source
    detector: SceneDetector
    """Its own: a frame of the watch before may still be judged on a thread."""
    first_scene: int = 0
    """Scene numbers go on from the watch before."""
    frames: int = 0
    window: Lookout | None = None
    """Whether the window watched is there (window sources only)."""


@dataclass(frozen=True)
class Judged:
    """A frame after the scene detector and the encoder (off the event loop)."""

    verdict: Verdict
    seen: Looks
    encoded: Encoded | None


class WatchNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("watch", options=options)
        self.params = self.declare_parameters(Params)
        self.scene_settings = scene_settings(self.params.scenes)
        self.watch = self._new_watch(parse_source(self.params.source))
        self.last_source = self.params.source or "screen"
        """What ``!watch on`` watches: the source set last, else the whole screen."""
        self.add_on_set_parameters_callback(self.on_set)
        self.capturer = Capturer()
        self.display = Lookout()
        self.frame_pub = self.create_publisher(GameFrame, "game/frame")
        self.say_pub = self.create_publisher(ChatSay, "chat/say")
        self.create_subscription(ChatMessage, "chat/message", self.on_chat)
        self.timer = self.create_timer(1.0 / self.params.fps, self.tick)
        self.worker: Worker[Watch] = Worker(self, self._take, self._capture, name="watch capture")
        self._due = False
        self._next_scene = 0
        """The first scene number of the next watch (they go on across watches)."""
        self._problems = LogLimiter(keys=64, burst=5, window_s=60.0)

    async def on_start(self) -> None:
        self.worker.start()
        if self.watch is not None:
            self.log.info("watching %s", self.watch.source.label())

    async def on_shutdown(self) -> None:
        await self.worker.stop()
        await self.capturer.aclose()

    def on_set(self, changes: dict[str, Any]) -> tuple[bool, str] | None:
        """A new source starts a new watch at once; a new fps, the timer's period; new scene
        settings apply from the next frame (refused when they are wrong)."""
        try:
            source = parse_source(changes["source"]) if "source" in changes else None
            settings = scene_settings(changes["scenes"]) if "scenes" in changes else None
        except ParameterError as exc:
            return False, str(exc)
        if settings is not None:
            self.scene_settings = settings
        if "fps" in changes:
            self.timer.set_period(1.0 / changes["fps"])
        if "source" in changes:
            self._switch(source, changes["source"])
        return None

    # ------------------------------------------------------------ inputs

    def tick(self) -> None:
        """Time for a frame: the worker takes it, unless the last one is still in hand."""
        if self.watch is None:
            self.counters["ticks_off"] += 1
            return
        if self._due or self.worker.busy:
            self.counters["ticks_skipped"] += 1
            return
        self._due = True
        self.worker.wake()

    def on_chat(self, msg: ChatMessage) -> None:
        command = self.params.watch_command.casefold()
        if msg.command.casefold() != command:
            return
        if not HOSTS & set(msg.roles):
            self.counters["watch_command_denied"] += 1
            self.report_bad_input(f"{msg.platform}:{msg.user_id or msg.user}", "chat/message",
                                  f"!{command} is for moderators and the broadcaster")
            return
        words = msg.text.split()
        verb = words[1].casefold() if len(words) > 1 else ""
        if verb in ("on", "off"):
            self.counters[f"watch_command_{verb}"] += 1
            accepted, reason = self.parameters.set(
                {"source": self.last_source if verb == "on" else ""})
            if not accepted:  # the last source no longer parses: cannot happen, but say so
                self.log.warning("!%s %s refused: %s", command, verb, reason)
        else:
            self.counters["watch_command_invalid"] += 1
            self.say_pub.publish(ChatSay(text=f"@{msg.user} usage: !{command} on | !{command} off",
                                         platform=msg.platform, channel=msg.channel,
                                         reply_to=msg.id))

    # ------------------------------------------------------------ watching

    def _new_watch(self, source: Source | None, first_scene: int = 0) -> Watch | None:
        if source is None:
            return None
        return Watch(source, SceneDetector(self.scene_settings), first_scene,
                     window=Lookout() if source.kind == "window" else None)

    def _switch(self, source: Source | None, text: str) -> None:
        """Watch ``source`` from the next tick on (None: stop); a frame in hand is dropped."""
        old = self.watch
        if old is not None and old.frames:
            self._next_scene = old.first_scene + old.detector.scene + 1
        self.watch = self._new_watch(source, self._next_scene)
        self._due = False
        if text:
            self.last_source = text
            self.log.info("watching %s", source.label() if source else text)
        else:
            self.log.info("watching stopped")

    def _take(self) -> Watch | None:
        if not self._due:
            return None
        self._due = False
        return self.watch

    async def _capture(self, watch: Watch) -> None:
        now = time.monotonic()
        retry_s = self.params.retry_s
        if not self.display.due(now, retry_s) or (
                watch.window is not None and not watch.window.due(now, retry_s)):
            return
        try:
            picture = await self.capturer.grab(watch.source, self.params.width)
        except NoDisplayError as exc:
            self.counters["display_lookups_failed"] += 1
            self._saw(self.display, False, "display", str(exc))
            return
        except WindowNotFoundError as exc:
            self._saw(self.display, True, "display")
            self.counters["window_lookups_failed"] += 1
            if watch.window is not None:
                self._saw(watch.window, False, "window",
                          f"{exc}; looking for it every {retry_s:g} s")
            return
        except CaptureError as exc:  # a monitor that is not there, a region off the screen
            self._saw(self.display, True, "display")
            self.counters["capture_failed"] += 1
            if self._problems.should_log(str(exc), now):
                self.log.error("cannot capture %s: %s", watch.source.label(), exc)
            return
        self._saw(self.display, True, "display")
        if watch.window is not None:
            self._saw(watch.window, True, "window", f"{watch.source.label()} found")
        if watch.detector.settings is not self.scene_settings:
            watch.detector.reconfigure(self.scene_settings)
        judged = await asyncio.to_thread(_judge, watch.detector, picture, now,
                                         self.params.jpeg_quality, self.params.max_frame_bytes)
        first = watch.frames == 0 or judged.verdict.changed
        text = await self._read(picture) if first and self.params.ocr else ""
        if watch is not self.watch:  # the source changed meanwhile
            self.counters["frames_stale"] += 1
            return
        self._publish(watch, judged, first, text)

    async def _read(self, picture: Image.Image) -> str:
        """The text on ``picture``, or '' when tesseract fails or is late (said once a kind)."""
        timeout_s = self.params.ocr_timeout_s
        try:
            async with asyncio.timeout(timeout_s + OCR_GRACE_S):
                return await asyncio.to_thread(read_text, picture, self.params.ocr_lang,
                                               timeout_s)
        except (OcrError, TimeoutError) as exc:
            self.counters["ocr_failed"] += 1
            reason = str(exc) or f"no answer within {timeout_s + OCR_GRACE_S:g} s"
            if self._problems.should_log(reason, time.monotonic()):
                self.log.warning("OCR failed, frames go out without text: %s", reason)
            return ""

    def _publish(self, watch: Watch, judged: Judged, first: bool, text: str) -> None:
        verdict, seen, encoded = judged.verdict, judged.seen, judged.encoded
        if encoded is None:
            self.counters["frames_too_large"] += 1
            if self._problems.should_log("too large", time.monotonic()):
                self.log.error("a frame does not fit max_frame_bytes=%d even at %d px wide: "
                               "not published (raise max_frame_bytes)",
                               self.params.max_frame_bytes, SMALLEST_WIDTH)
            return
        if encoded.shrunk:
            self.counters["frames_shrunk"] += 1
        self.frame_pub.publish(GameFrame(
            width=encoded.width, height=encoded.height, data=encoded.data, encoding="jpeg",
            source=watch.source.label(), index=watch.frames,
            scene=watch.first_scene + verdict.scene, changed=verdict.changed,
            change=verdict.change, text=text, brightness=seen.brightness,
            motion=verdict.motion, colours=seen.colours,
            description=describe(seen, text, verdict.changed) if first else ""))
        watch.frames += 1
        self.counters["frames"] += 1
        if verdict.changed:
            self.counters["scenes"] += 1

    def _saw(self, lookout: Lookout, present: bool, what: str, message: str = "") -> None:
        """Say once that ``what`` went missing (``message``) or came back."""
        sighting = lookout.saw(present, time.monotonic())
        if sighting is None:
            return
        self.counters[f"{what}_{sighting}"] += 1
        if sighting == "missing":
            self.log.error("%s", message)
        else:
            self.log.info("%s is back%s", what, f": {message}" if message else "")


def _judge(detector: SceneDetector, picture: Image.Image, now: float, quality: int,
           max_bytes: int) -> Judged:
    """The scene verdict, the looks and the JPEG of one frame (on a worker thread)."""
    pixels = np.asarray(picture)
    verdict = detector.feed(pixels, now)
    return Judged(verdict, look(pixels, motion=verdict.motion),
                  encode_jpeg(picture, quality, max_bytes))


def scene_settings(table: dict[str, Any]) -> SceneSettings:
    """The scene detector's settings from the ``scenes`` parameter, or a ParameterError
    naming the field."""
    try:
        return msgspec.convert(table, SceneSettings)
    except msgspec.ValidationError as exc:
        raise ParameterError(f"scenes: {exc}") from exc
