"""A test window that shows whole-window scenes carrying big text, switched on command.

Run as a program on an X display (``python tests/helpers/scene_window.py --title T
--scene "LEVEL 1" --scene "GAME OVER"``), it shows the first scene and prints ``ready``; each
line on stdin is a command, answered on stdout once the screen shows it:

- ``scene N``: show scene N (from 0): its own background colour and its text, big
  (answers ``shown N``);
- ``move X Y``: move the window (answers ``moved X Y``);
- ``quit``: close the window and exit.

With ``--flicker`` a small label in a corner changes colour and text four times a second
(a HUD that is not a scene change).

From a test, `SceneWindow` runs it and waits for each answer::

    with SceneWindow(display, "Scene Test", ["LEVEL 1", "GAME OVER"]) as window:
        window.show(1)
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
from types import TracebackType
from typing import IO

__all__ = ["SCENE_COLOURS", "SceneWindow"]

SCENE_COLOURS = [("#102a80", "white"), ("black", "#ff3030"), ("#106020", "yellow"),
                 ("#703000", "white"), ("white", "black")]
"""(background, text) of scene 0, 1, ... (in turn)."""
FLICKER_MS = 250
POLL_MS = 20
ANSWER_TIMEOUT_S = 20.0


class SceneWindow:
    """The scene window as a child process on ``display`` (e.g. ``":99"``).

    Parameters
    ----------
    display:
        The X display to open it on.
    title:
        Its window title (what the watch node looks for).
    scenes:
        The text of each scene.
    flicker:
        Show the flickering corner label.
    geometry:
        Tk geometry, ``WxH+X+Y``.
    """

    def __init__(self, display: str, title: str, scenes: list[str], *, flicker: bool = False,
                 geometry: str = "800x450+100+60"):
        self.title = title
        self.cmd = [sys.executable, __file__, "--title", title, "--geometry", geometry]
        for text in scenes:
            self.cmd += ["--scene", text]
        if flicker:
            self.cmd.append("--flicker")
        self.env = {**os.environ, "DISPLAY": display}
        self.proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()

    def start(self) -> SceneWindow:
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        self._expect("ready")
        return self

    def show(self, scene: int) -> None:
        """Show scene ``scene`` and wait until it is on the screen."""
        self._command(f"scene {scene}", f"shown {scene}")

    def move(self, x: int, y: int) -> None:
        self._command(f"move {x} {y}", f"moved {x} {y}")

    def close(self) -> None:
        """Close the window (the process exits)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.flush()
                proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(10)

    def __enter__(self) -> SceneWindow:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _command(self, line: str, answer: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None, "start() first"
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        self._expect(answer)

    def _expect(self, answer: str) -> None:
        while True:
            try:
                line = self._lines.get(timeout=ANSWER_TIMEOUT_S)
            except queue.Empty:
                raise TimeoutError(f"the scene window did not answer {answer!r} within "
                                   f"{ANSWER_TIMEOUT_S} s") from None
            if line == answer:
                return
            if line == "":
                raise RuntimeError(f"the scene window exited before answering {answer!r}")

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line.strip())
        self._lines.put("")  # end of output


def main() -> None:
    """The window itself."""
    import tkinter

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--title", required=True)
    parser.add_argument("--scene", action="append", required=True)
    parser.add_argument("--geometry", default="800x450+100+60")
    parser.add_argument("--flicker", action="store_true")
    args = parser.parse_args()

    root = tkinter.Tk()
    root.title(args.title)
    root.geometry(args.geometry)
    canvas = tkinter.Canvas(root, highlightthickness=0)
    canvas.pack(fill="both", expand=True)
    commands: queue.Queue[str] = queue.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put("quit")

    def say(text: str) -> None:
        print(text, flush=True)

    def show(scene: int) -> None:
        background, colour = SCENE_COLOURS[scene % len(SCENE_COLOURS)]
        canvas.configure(background=background)
        canvas.delete("scene")
        width, height = canvas.winfo_width(), canvas.winfo_height()
        canvas.create_text(width // 2, height // 2, text=args.scene[scene], fill=colour,
                           font=("DejaVu Sans", max(12, height // 6), "bold"),
                           width=width - 40, justify="center", tags="scene")
        canvas.tag_raise("flicker")

    flicker_state = [0]

    def flicker() -> None:
        flicker_state[0] += 1
        canvas.delete("flicker")
        colour = ("#00ff00", "#ff00ff")[flicker_state[0] % 2]
        canvas.create_rectangle(8, 8, 64, 28, fill=colour, outline="", tags="flicker")
        canvas.create_text(36, 18, text=f"{flicker_state[0] % 100:02d}", fill="black",
                           font=("DejaVu Sans", 10), tags="flicker")
        root.after(FLICKER_MS, flicker)

    def poll() -> None:
        while not commands.empty():
            words = commands.get().split()
            if not words:
                continue
            if words[0] == "quit":
                root.destroy()
                return
            if words[0] == "scene":
                show(int(words[1]))
                root.update()
                say(f"shown {words[1]}")
            elif words[0] == "move":
                root.geometry(f"+{words[1]}+{words[2]}")
                root.update()
                say(f"moved {words[1]} {words[2]}")
        root.after(POLL_MS, poll)

    def ready() -> None:
        show(0)
        if args.flicker:
            flicker()
        root.update()
        say("ready")
        threading.Thread(target=read_stdin, daemon=True).start()
        poll()

    root.wait_visibility()
    root.after(50, ready)
    root.mainloop()


if __name__ == "__main__":
    main()
