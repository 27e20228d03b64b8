"""The watch node on a real X display (Xvfb): the screen and windows by title captured, a
scene switch in a real window seen and its text read, a still window left alone, a window
closed and reopened, no display, frames too large for the bus, ``!watch`` from chat, and a
real game from Debian (xbill)."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from helpers.chat import chat_line
from helpers.display import Xvfb
from helpers.scene_window import SceneWindow
from PIL import Image

from bus.testing import NodeHarness, Probe, wait_until
from messages.chat import ChatMessage
from messages.game import GameFrame
from messages.system import LogEvent
from nodes.watch.node import WatchNode

pytestmark = pytest.mark.slow

SCENES = ["LEVEL 1", "GAME OVER", "MAIN MENU"]
FAST = {"fps": 4.0, "retry_s": 0.3}
"""Quicker than the defaults, so waits are short (the logic is the same)."""
WAIT_S = 60.0
"""Every wait's deadline: generous, the machine is shared."""


@pytest.fixture
def display(x_display: Xvfb, monkeypatch: pytest.MonkeyPatch) -> Xvfb:
    """The session's Xvfb as this test's DISPLAY (the node and the programs it starts)."""
    monkeypatch.setenv("DISPLAY", x_display.name)
    return x_display


@pytest.fixture
def window(display: Xvfb, request: pytest.FixtureRequest) -> Iterator[SceneWindow]:
    """The scene window, titled after the test (no two tests' windows share a title)."""
    title = f"Scene {request.node.name[:40]}"
    with SceneWindow(display.name, title, SCENES) as scene_window:
        yield scene_window


def frames(h: NodeHarness) -> list[GameFrame]:
    return h.messages("game/frame")


async def wait_frames(h: NodeHarness, count: int, *, what: str = "frames") -> list[GameFrame]:
    """Until ``count`` frames more than now were published; the new ones."""
    before = len(frames(h))
    await wait_until(lambda: len(frames(h)) >= before + count, WAIT_S, what=what)
    return frames(h)[before:]


def decoded(frame: GameFrame) -> Image.Image:
    picture = Image.open(io.BytesIO(frame.data))
    assert picture.format == "JPEG"
    assert picture.size == (frame.width, frame.height)
    return picture


def errors(h: NodeHarness, containing: str) -> list[str]:
    return [e.message for e in h.messages("system/log")
            if isinstance(e, LogEvent) and containing in e.message]


class TestCapture:
    async def test_the_screen_downscaled_with_its_text_read(self, window: SceneWindow) -> None:
        async with NodeHarness(WatchNode, parameters={**FAST, "source": "screen"}) as h:
            first, *rest = await wait_frames(h, 3)
        assert (first.width, first.height) == (640, 360)  # 1280x720, downscaled first
        assert decoded(first).size == (640, 360)
        assert first.source == "screen" and first.index == 0 and not first.changed
        assert "LEVEL 1" in first.text  # a watch's first frame is read
        assert first.description and first.colours
        assert [f.index for f in rest] == [1, 2]
        assert all(f.text == "" and f.description == "" for f in rest)  # the same scene

    async def test_a_window_by_title_and_a_scene_switch(self, window: SceneWindow) -> None:
        title = window.title
        async with NodeHarness(WatchNode,
                               parameters={**FAST, "source": f"window:{title}"}) as h:
            first = (await wait_frames(h, 1))[0]
            assert (first.width, first.height) == (640, 360)  # 800x450, downscaled
            assert first.source == f"window {title!r}" and "LEVEL 1" in first.text
            window.show(1)
            changed = await wait_until(
                lambda: [f for f in frames(h) if f.changed], WAIT_S, what="a changed frame")
        assert len(changed) == 1
        assert changed[0].scene == 1 and changed[0].change > 0.2
        assert "GAME OVER" in changed[0].text
        assert "GAME OVER" in changed[0].description
        later = [f for f in frames(h) if f.index > changed[0].index]
        assert all(f.scene == 1 and not f.text for f in later)

    async def test_a_still_window_with_a_flickering_corner_is_one_scene(
            self, display: Xvfb) -> None:
        with SceneWindow(display.name, "Still Flicker", SCENES, flicker=True):
            async with NodeHarness(WatchNode, parameters={
                    **FAST, "source": "window:Still Flicker"}) as h:
                still = await wait_frames(h, 16, what="16 frames of a still window")
        assert not any(f.changed for f in still)
        assert {f.scene for f in still} == {0}
        assert sum(1 for f in still if f.text) == 1  # read once, on the first frame

    async def test_a_moved_window_is_followed(self, window: SceneWindow) -> None:
        title = window.title
        async with NodeHarness(WatchNode,
                               parameters={**FAST, "source": f"window:{title}"}) as h:
            await wait_frames(h, 1)
            window.move(400, 200)
            after = await wait_frames(h, 3)
        assert not any(f.changed for f in after)  # the same picture, somewhere else
        assert all(f.brightness < 0.3 for f in after)  # the window's blue, not the root's black

    async def test_a_frame_over_max_frame_bytes_arrives_smaller(
            self, window: SceneWindow) -> None:
        async with NodeHarness(WatchNode, parameters={
                **FAST, "source": "screen", "jpeg_quality": 95, "max_frame_bytes": 4096}) as h:
            got = await wait_frames(h, 3)
            counters = dict(h.node.counters)
        assert all(len(f.data) <= 4096 for f in got)
        assert all(decoded(f).width <= 640 for f in got)
        assert counters["frames_shrunk"] >= 3  # counted, and none dropped
        assert counters.get("frames_too_large", 0) == 0


class TestMissing:
    async def test_a_closed_window_is_said_once_and_found_again(
            self, display: Xvfb, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="watch")
        title = "Comes And Goes"
        async with NodeHarness(WatchNode, parameters={**FAST, "source": f"window:{title}"}) as h:
            with SceneWindow(display.name, title, SCENES):
                await wait_frames(h, 2)
            count = len(frames(h))
            await wait_until(lambda: h.node.counters["window_lookups_failed"] >= 4, WAIT_S,
                             what="the node to look for the gone window 4 times")
            assert len(frames(h)) <= count + 1  # (one grabbed as it closed)
            assert h.node.counters["window_missing"] == 1
            assert len(errors(h, f"window {title!r} not found")) == 1
            with SceneWindow(display.name, title, SCENES):
                await wait_until(lambda: h.node.counters["window_back"] == 1, WAIT_S,
                                 what="the window found again")
                back = await wait_frames(h, 2)
        assert all(f.source == f"window {title!r}" and f.scene == 0 for f in back)
        assert back[0].index > 0  # the same watch goes on: the same scene, not read again
        assert h.node.counters["window_missing"] == 1
        assert sum("window is back" in r.getMessage() for r in caplog.records) == 1

    async def test_a_window_that_never_opens_is_said_once(self, display: Xvfb) -> None:
        async with NodeHarness(WatchNode,
                               parameters={**FAST, "source": "window:No Such Window"}) as h:
            await wait_until(lambda: h.node.counters["window_lookups_failed"] >= 3, WAIT_S,
                             what="three lookups")
            assert frames(h) == []
            assert len(errors(h, "window 'No Such Window' not found")) == 1

    async def test_no_display_says_how_to_set_it_and_lives_on(
            self, x_display: Xvfb, monkeypatch: pytest.MonkeyPatch,
            caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="watch")
        monkeypatch.delenv("DISPLAY", raising=False)
        async with NodeHarness(WatchNode, parameters={**FAST, "source": "screen"}) as h:
            await wait_until(lambda: errors(h, "no display"), WAIT_S, what="the error")
            (message,) = errors(h, "no display")
            assert message.startswith("no display: DISPLAY is not set")
            assert "DISPLAY=:0" in message and "Xvfb :99" in message
            monkeypatch.setenv("DISPLAY", unused_display())  # refuses: still said once
            answer = await h.set_parameters(fps=5.0)  # alive: answers, takes a set
            assert answer.successful
            await wait_until(lambda: h.node.counters["display_lookups_failed"] >= 4, WAIT_S,
                             what="the node to try the display 4 times")
            monkeypatch.setenv("DISPLAY", x_display.name)  # the screen comes
            await wait_frames(h, 1)
        assert len(errors(h, "no display")) == 1
        assert h.node.counters["display_missing"] == 1
        assert h.node.counters["display_back"] == 1
        assert sum("display is back" in r.getMessage() for r in caplog.records) == 1


class TestControl:
    async def test_watch_off_and_on_from_a_moderator_a_viewer_refused(
            self, window: SceneWindow) -> None:
        title = window.title
        async with NodeHarness(WatchNode,
                               parameters={**FAST, "source": f"window:{title}"}) as h:
            await wait_frames(h, 2)
            h.feed("chat/message", command("!watch off", user="mod", roles=["moderator"]))
            assert h.node.params.source == ""
            await h.settle()
            stopped_at = len(frames(h))
            h.feed("chat/message", command("!watch on", user="viewer"))
            assert h.node.params.source == ""
            await wait_until(lambda: h.node.counters["ticks_off"] >= 6, WAIT_S,
                             what="six ticks while off")
            assert len(frames(h)) <= stopped_at + 1  # (one in hand when it stopped)
            assert h.node.counters["watch_command_denied"] == 1
            h.feed("chat/message", command("!watch on", user="boss", roles=["broadcaster"]))
            assert h.node.params.source == f"window:{title}"  # the last source
            resumed = await wait_frames(h, 2)
            h.feed("chat/message", command("!watch sideways", user="mod", roles=["moderator"]))
        assert resumed[0].index == 0 and resumed[0].text  # a new watch, read again
        assert resumed[0].scene > 0  # scene numbers go on
        (usage,) = h.messages("chat/say")
        assert usage.text == "@mod usage: !watch on | !watch off"

    async def test_parameters_are_live(self, window: SceneWindow) -> None:
        title = window.title
        async with NodeHarness(WatchNode, parameters={**FAST, "source": "screen"}) as h:
            await wait_frames(h, 1)
            assert (await h.set_parameters(fps=8.0)).successful
            assert h.node.timer.period_s == 0.125
            assert (await h.set_parameters(width=320)).successful
            narrow = await wait_frames(h, 2)
            refused = await h.set_parameters(source="desktop")
            assert not refused.successful and "'source'" in refused.reason
            refused = await h.set_parameters(scenes={"enter": 5})
            assert not refused.successful and "scenes" in refused.reason
            assert (await h.set_parameters(source=f"window:{title}")).successful
            moved = await wait_frames(h, 1)
        assert narrow[-1].width == 320
        assert moved[-1].source == f"window {title!r}" and moved[-1].width == 320

    async def test_a_real_node_process_on_a_real_bus(self, window: SceneWindow, bus_url: str,
                                                     start_node) -> None:  # type: ignore[no-untyped-def]
        title = window.title
        async with Probe(bus_url) as probe:
            got = probe.collect("game/frame")
            await probe.wait_subscribed("game/frame")
            start_node("nodes.watch", params={**FAST, "source": f"window:{title}"},
                       env={"DISPLAY": os.environ["DISPLAY"]})
            await probe.wait_for("game/frame", 2, timeout=WAIT_S)
            window.show(2)
            changed = await probe.wait_for("game/frame", 1, timeout=WAIT_S,
                                           where=lambda f: f.changed)
        assert "MAIN MENU" in changed[0].text
        assert all(len(f.data) <= 256 * 1024 for _, f in got)


def command(text: str, *, user: str, roles: list[str] | None = None) -> ChatMessage:
    """A ``!watch`` line as the chat node publishes it on ``chat/message``."""
    return msgspec.structs.replace(chat_line(text, user=user, roles=roles), command="watch")


def unused_display() -> str:
    """A display number nobody serves (its socket does not exist)."""
    number = 90
    while Path(f"/tmp/.X11-unix/X{number}").exists():
        number += 1
    return f":{number}"


XBILL = shutil.which("xbill") or "/usr/games/xbill"


@pytest.mark.skipif(not Path(XBILL).exists(), reason="xbill is not installed (make setup)")
class TestRealGame:
    async def test_xbill_by_title_and_its_new_game_seen(self, display: Xvfb) -> None:
        game = subprocess.Popen([XBILL], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with NodeHarness(WatchNode,
                                   parameters={**FAST, "source": "window:xbill"}) as h:
                title_screen = (await wait_frames(h, 2, what="xbill's title screen"))[0]
                start_new_game(display)
                changed = await wait_until(lambda: [f for f in frames(h) if f.changed],
                                           WAIT_S, what="xbill's game screen as a new scene")
        finally:
            game.terminate()
            game.wait(10)
        assert (title_screen.width, title_screen.height) == (402, 429)  # narrower: as is
        assert "Bill" in title_screen.text  # its logo, XBill
        # read: its status line (Level, Score) most times, else its menu buttons
        assert any(word in changed[0].text for word in ("Info", "Level", "Score", "System")), (
            changed[0].text, changed[0].change)
        assert title_screen.brightness > 0.5  # white


def start_new_game(display: Xvfb) -> None:
    """xbill's menu Game > New Game, then OK (Athena menus open while the button is held)."""
    def xdotool(*args: str) -> None:
        subprocess.run(["xdotool", *args], check=True, timeout=10)

    xdotool("search", "--sync", "--onlyvisible", "--name", "xbill")
    xdotool("mousemove", "22", "15", "mousedown", "1", "sleep", "0.5", "mousemove", "40", "34",
            "sleep", "0.3", "mouseup", "1")
    xdotool("search", "--sync", "--onlyvisible", "--name", "xbill")
    xdotool("sleep", "1", "mousemove", "157", "226", "click", "1")
