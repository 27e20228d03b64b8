"""Watch mode: what watching the screen costs, how well scene changes are found, and how long a
new scene takes to become a persona's words.

Four parts in one run, each on the watch node's own modules (`nodes.watch`), none copied:

- ``capture``: an X display of the benchmark's own (Xvfb, 1280x720, `helpers.display.Xvfb`)
  showing the test scene window over the whole screen (`helpers.scene_window`: big text, a
  corner flickering four times a second, the scene switched every few seconds). Each frame
  goes the watch node's way, OCR apart: grabbed with mss and downscaled to ``width`` (640) on
  the capture thread (`nodes.watch.capture.Capturer`), judged by a `SceneDetector`, encoded
  by `encode_jpeg` within ``max_frame_bytes`` (the node's defaults). Paced at 2 fps (the
  node's default) for ``--seconds``: ``capture_fps`` and ``capture_cpu_pct`` = this process's CPU time
  (user + system, its children's included) over the wall time, in % of one core (target:
  2 fps under 5%); ``xserver_cpu_pct``: the X server's own CPU meanwhile (it copies the
  picture for mss; not part of the target). ``window_capture_cpu_pct``: the same with the
  window found by title (``window:TITLE``: one ``xdotool`` call a frame, counted as children).
  Unthrottled: ``max_fps`` and the stages' times. Baseline, same run: a bare mss grab of the
  whole 1280x720 screen (``raw_grab_ms``), hence ``capture_frame_vs_raw_grab`` (CPU a frame).
- ``ocr``: tesseract (`nodes.watch.ocr.read_text`, as the node reads a new scene's first
  frame) on the 640x360 frame of each of the window's scenes: ``ocr_ms_p50`` and how many of
  the scenes' texts were read.
- ``scenes``: a `SceneDetector` with its defaults over `clips.generated_clip` for ``--seeds``
  seeds (640x360, 2 fps, ``--clip-s`` long), scored by `clips.score` (a change found within 3
  frames of a label): ``scene_precision`` and ``scene_recall`` over all the clips (target
  >= 0.95 each), each seed's own, and the detector's time a frame. Every tenth clip frame
  is also encoded as the node would (``clip_frame_bytes_p50``, ``clip_encode_ms_p50``): a
  busier picture than the scene window, with noise and JPEG-like blocks.
- ``comment``: the real show, ``vtlaunch stream.launch.toml watch:=window:TITLE`` on the same
  display: the bundled model (SmolLM2 on llama.cpp; ``--llm scripted``: the zero-time
  stand-in), the tone voice writing WAV files, no microphone, avatar or memory store, no
  topics or banter; the director's ``watch_comment_s`` set to 0 so every new scene may be
  commented. The window switches to a new scene; ``frame_to_comment_ms``: from the watch
  node's ``changed`` frame on ``game/frame`` (its publish stamp, after its OCR) to the first
  ``llm/sentence`` of the ``watch`` turn that followed; each comment is heard to its end
  before the next switch. Also ``scene_to_frame_ms`` (the window showing the scene -> its
  changed frame: settling and OCR) and the hops between (``frame_to_turn``,
  ``turn_to_request``, ``request_to_sentence``).

Usage: ``python benchmarks/watch.py [--json] [--quick] [--seconds S] [--seeds N] [--clip-s S]
[--comments N] [--llm llamacpp|scripted]``. ``--quick`` (CI): short runs, two seeds of 60 s,
two comments by the scripted stand-in.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] == str(ROOT / "benchmarks"):
    sys.path.pop(0)  # run as a script: this folder's bus.py would shadow the `bus` package
# tests/ holds the helpers shared with the tests (`helpers.display`, `helpers.scene_window`)
sys.path[:0] = [path for path in (str(ROOT), str(ROOT / "tests")) if path not in sys.path]

import numpy as np  # noqa: E402
from helpers.display import Xvfb  # noqa: E402
from helpers.scene_window import SceneWindow  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.report import arguments, emit, machine, percentile, ratio  # noqa: E402
from bus.testing import Probe, wait_until  # noqa: E402
from launch.testing import LaunchProcess  # noqa: E402
from messages.system import ParamSetRequest, SetParameters  # noqa: E402
from nodes.watch.capture import Capturer, Source  # noqa: E402
from nodes.watch.clips import generated_clip, score  # noqa: E402
from nodes.watch.frames import encode_jpeg  # noqa: E402
from nodes.watch.ocr import read_text  # noqa: E402
from nodes.watch.params import Params  # noqa: E402
from nodes.watch.scenes import SceneDetector  # noqa: E402

LAUNCH = ROOT / "launch" / "stream.launch.toml"
NODE = Params()
"""The watch node's defaults: width, JPEG quality, frame budget, OCR language and deadline."""
TITLE = "Watch Bench"
SCENES = ("LEVEL 1", "GAME OVER", "MAIN MENU", "YOU WIN", "PAUSED")
SWITCH_S = 5.0
"""The paced capture switches the window's scene this often (JPEG sizes of every scene)."""
ENCODE_EVERY = 10
"""Every so many frames of a generated clip is also encoded (``clip_frame_bytes``)."""
TARGET_FPS = 2.0
TARGET_CPU_PCT = 5.0
TOPICS = ("game/frame", "director/turn", "llm/sentence", "llm/done", "audio/playhead")
"""What a comment's path is read from (``llm/request`` once the LLM is up)."""
START_S = 300.0
"""For the show to come up (llama.cpp loads the model; the machine is shared)."""
COMMENT_S = 300.0
"""For one comment: the changed frame, the turn, the model's first sentence, heard."""


def cpu_s() -> float:
    """CPU seconds of this process and its threads (to the nanosecond), and of its
    waited-for children (xdotool; the clock's ticks)."""
    children = os.times()
    return time.process_time() + children.children_user + children.children_system


def process_cpu_s(pid: int) -> float:
    """CPU seconds of another process (user + system, from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def p50(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


# ------------------------------------------------------------------ capture and OCR


@dataclass
class CapturePath:
    """The watch node's work on one frame, OCR apart: grab and downscale, judge, encode."""

    source: Source
    capturer: Capturer
    detector: SceneDetector = field(default_factory=SceneDetector)
    stages: dict[str, list[float]] = field(
        default_factory=lambda: {"grab": [], "scene": [], "encode": []})
    """Seconds of each stage, a frame."""
    sizes: list[int] = field(default_factory=list)
    """Bytes of each encoded frame."""
    size: tuple[int, int] = (0, 0)
    """Width and height of the last frame encoded."""

    async def frame(self) -> None:
        started = time.perf_counter()
        picture = await self.capturer.grab(self.source, NODE.width)
        grabbed = time.perf_counter()
        self.detector.feed(np.asarray(picture), time.monotonic())
        judged = time.perf_counter()
        encoded = encode_jpeg(picture, NODE.jpeg_quality, NODE.max_frame_bytes)
        done = time.perf_counter()
        if encoded is None:
            raise RuntimeError(f"a frame did not fit {NODE.max_frame_bytes} bytes")
        self.sizes.append(len(encoded.data))
        self.size = (encoded.width, encoded.height)
        for stage, took in zip(self.stages, (grabbed - started, judged - grabbed,
                                             done - judged), strict=True):
            self.stages[stage].append(took)


async def paced(path: CapturePath, fps: float, seconds: float, xserver: int,
                window: SceneWindow | None = None) -> dict[str, float]:
    """``path`` at ``fps`` for ``seconds`` (``window`` switched to the next scene every
    `SWITCH_S`): frames a second, this process's and the X server's CPU in % of a core."""
    period = 1.0 / fps
    count = max(1, round(seconds * fps))
    switch_every = max(1, round(SWITCH_S * fps))
    cpu, x_cpu, started = cpu_s(), process_cpu_s(xserver), time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n * period - time.perf_counter()))
        if window is not None and n and n % switch_every == 0:
            # between two frames, as a person would; the scene window's answer is a line on a
            # pipe, next to nothing beside a frame
            await asyncio.to_thread(window.show, (n // switch_every) % len(SCENES))
        await path.frame()
    await asyncio.sleep(max(0.0, started + count * period - time.perf_counter()))
    wall = time.perf_counter() - started
    return {"fps": round(count / wall, 3),
            "cpu_pct": round(100 * (cpu_s() - cpu) / wall, 2),
            "xserver_cpu_pct": round(100 * (process_cpu_s(xserver) - x_cpu) / wall, 2),
            "frames": count}


async def unthrottled(path: CapturePath, frames: int) -> dict[str, float]:
    """``path`` as fast as it goes: frames a second and CPU a frame."""
    await path.frame()  # the first connects to the display
    cpu, started = cpu_s(), time.perf_counter()
    for _ in range(frames):
        await path.frame()
    wall = time.perf_counter() - started
    return {"fps": round(frames / wall, 2), "cpu_ms": ms((cpu_s() - cpu) / frames)}


def raw_grabs(count: int) -> dict[str, float]:
    """The baseline: a bare mss grab of the whole screen (1280x720, BGRA), nothing else."""
    import mss

    with mss.MSS() as screen:
        whole = screen.monitors[0]
        screen.grab(whole)  # connects
        times = []
        cpu = cpu_s()
        for _ in range(count):
            started = time.perf_counter()
            screen.grab(whole)
            times.append(time.perf_counter() - started)
        cpu_ms = ms((cpu_s() - cpu) / count)
    return {"ms": ms(statistics.median(times)), "cpu_ms": cpu_ms}


async def ocr(window: SceneWindow, capturer: Capturer, rounds: int) -> dict[str, Any]:
    """Tesseract on the downscaled frame of each scene, ``rounds`` times."""
    times: list[float] = []
    read_right = 0
    for _ in range(rounds):
        for scene, text in enumerate(SCENES):
            await asyncio.to_thread(window.show, scene)
            picture = await capturer.grab(Source("screen"), NODE.width)
            started = time.perf_counter()
            read = await asyncio.to_thread(read_text, picture, NODE.ocr_lang, NODE.ocr_timeout_s)
            times.append(time.perf_counter() - started)
            read_right += text in read
    return {"ocr_ms_p50": ms(statistics.median(times)),
            "ocr_ms_p95": ms(percentile(times, 0.95)),
            "ocr_frames": len(times), "ocr_text_read": read_right}


async def capture(display: Xvfb, window: SceneWindow, seconds: float, frames: int,
                  ocr_rounds: int) -> dict[str, Any]:
    assert display.proc is not None
    xserver = display.proc.pid
    baseline = raw_grabs(frames)
    capturer = Capturer()
    try:
        fast = CapturePath(Source("screen"), capturer)
        top = await unthrottled(fast, frames)
        screen = CapturePath(Source("screen"), capturer)
        at_target = await paced(screen, TARGET_FPS, seconds, xserver, window)
        by_title = CapturePath(Source("window", title=TITLE), capturer)
        await by_title.frame()  # the first finds the window
        window_target = await paced(by_title, TARGET_FPS, seconds / 2, xserver)
        read = await ocr(window, capturer, ocr_rounds)
    finally:
        await capturer.aclose()
    out: dict[str, Any] = {
        "capture_fps": at_target["fps"], "capture_cpu_pct": at_target["cpu_pct"],
        "capture_frames": at_target["frames"],
        "capture_cpu_target_pct": TARGET_CPU_PCT,
        "capture_meets_target": (at_target["fps"] >= 0.95 * TARGET_FPS
                                 and at_target["cpu_pct"] < TARGET_CPU_PCT),
        "xserver_cpu_pct": at_target["xserver_cpu_pct"],
        "window_capture_fps": window_target["fps"],
        "window_capture_cpu_pct": window_target["cpu_pct"],
        "max_fps": top["fps"], "capture_frame_cpu_ms": top["cpu_ms"],
        "raw_grab_ms": baseline["ms"], "raw_grab_cpu_ms": baseline["cpu_ms"],
        "capture_frame_vs_raw_grab": ratio(top["cpu_ms"], baseline["cpu_ms"]),
    }
    for stage, times in fast.stages.items():
        out[f"{stage}_ms_p50"] = ms(statistics.median(times))
    sizes = screen.sizes
    out |= {"frame_bytes_p50": int(statistics.median(sizes)), "frame_bytes_max": max(sizes),
            "frame_size": "x".join(map(str, screen.size))}
    return out | read


# ------------------------------------------------------------------ scenes


def scenes(seeds: int, clip_s: float) -> dict[str, Any]:
    """The detector's precision and recall on generated clips, per seed and together; and
    the JPEG of a busier picture than the scene window's (the clips' noise and blocks)."""
    matched = detected = labelled = 0
    per_seed = []
    times: list[float] = []
    encode_times: list[float] = []
    sizes: list[int] = []
    for seed in range(seeds):
        clip = generated_clip(seed, seconds=clip_s, width=NODE.width,
                              height=NODE.width * 9 // 16)
        detector = SceneDetector()
        verdicts = []
        for index, frame in enumerate(clip.frames):
            started = time.perf_counter()
            verdicts.append(detector.feed(frame, index / clip.fps))
            times.append(time.perf_counter() - started)
        for frame in clip.frames[::ENCODE_EVERY]:
            started = time.perf_counter()
            encoded = encode_jpeg(Image.fromarray(frame), NODE.jpeg_quality, NODE.max_frame_bytes)
            encode_times.append(time.perf_counter() - started)
            sizes.append(len(encoded.data) if encoded is not None else 0)
        precision, recall = score(clip, verdicts)
        found = sum(v.changed for v in verdicts)
        matched += round(recall * len(clip.labels))
        detected += found
        labelled += len(clip.labels)
        per_seed.append({"seed": seed, "frames": len(clip.frames), "labels": len(clip.labels),
                         "detected": found, "precision": round(precision, 3),
                         "recall": round(recall, 3)})
    return {"scene_precision": round(matched / detected, 3) if detected else 1.0,
            "scene_recall": round(matched / labelled, 3) if labelled else 1.0,
            "scene_labels": labelled, "scene_detected": detected, "scene_matched": matched,
            "scene_check_ms_p50": ms(statistics.median(times)),
            "clip_encode_ms_p50": ms(statistics.median(encode_times)),
            "clip_frame_bytes_p50": int(statistics.median(sizes)), "scene_seeds": per_seed}


# ------------------------------------------------------------------ frame -> comment


@dataclass(frozen=True)
class Comment:
    """One new scene and the comment on it, by publish stamps (ns, one clock: this machine)."""

    shown_ns: int
    """The scene window answered that it shows the scene."""
    frame_ns: int
    turn_ns: int
    request_ns: int
    sentence_ns: int
    persona: str
    quoted: bool
    """The request's prompt carries the text read on the screen."""
    said: str


async def stamped(probe: Probe, topic: str, where: Callable[[Any], bool], *, after_ns: int = 0,
                  timeout: float = COMMENT_S, what: str) -> tuple[int, Any]:
    """The first message on ``topic`` published at ``after_ns`` or later that matches
    ``where``, with its publish stamp (waits up to ``timeout``)."""
    found: tuple[int, Any] = await wait_until(lambda: next(
        ((h.stamp_ns, m) for h, m in probe.received[topic]
         if h.stamp_ns >= after_ns and where(m)), None), timeout, what=what)
    return found


async def heard(probe: Probe, request_id: str, *, timeout: float = COMMENT_S) -> int:
    """Until the reply to ``request_id`` was heard to its end; the stamp of its last playhead.

    A playhead is a sentence's: the end of the reply is its ``llm/done``, then the
    ``finished`` (or ``cut``) playhead of its last sentence with words (the probe collects
    ``llm/done``, ``llm/sentence`` and ``audio/playhead``)."""
    await stamped(probe, "llm/done", lambda d: d.request_id == request_id, timeout=timeout,
                  what=f"the end of the reply {request_id}")
    last = max((s.index for s in probe.messages("llm/sentence")
                if s.request_id == request_id and s.text.strip()), default=None)
    if last is None:
        raise AssertionError(f"the reply {request_id} had no words")
    stamp, _ = await stamped(probe, "audio/playhead", lambda p: (
        p.request_id == request_id and p.sentence_index == last
        and p.state in ("finished", "cut")), timeout=timeout,
        what=f"the last sentence of {request_id} heard")
    return stamp


async def one_comment(probe: Probe, window: SceneWindow, scene: int) -> Comment:
    """Switch the window to ``scene``; the comment on it, heard to its end."""
    before_ns = time.time_ns()
    await asyncio.to_thread(window.show, scene)
    shown_ns = time.time_ns()
    text = SCENES[scene]
    frame_ns, frame = await stamped(probe, "game/frame", lambda f: f.changed,
                                    after_ns=before_ns, what=f"the changed frame of {text!r}")
    turn_ns, turn = await stamped(probe, "director/turn", lambda t: t.why == "watch",
                                  after_ns=frame_ns, what=f"a watch turn on {text!r}")
    request_ns, request = await stamped(
        probe, "llm/request", lambda r: r.request_id == turn.request_id and not r.prefill,
        what="the comment's request")
    sentence_ns, sentence = await stamped(
        probe, "llm/sentence", lambda s: s.request_id == turn.request_id and s.text.strip(),
        what="the comment's first sentence")
    await heard(probe, turn.request_id)  # the next scene comes on a free floor
    prompt = "\n".join(m.content for m in request.messages)
    return Comment(shown_ns, frame_ns, turn_ns, request_ns, sentence_ns, turn.speaker,
                   quoted=bool(frame.text) and frame.text in prompt, said=sentence.text)


async def comments(display: Xvfb, window: SceneWindow, count: int, llm: str, work: Path
                   ) -> dict[str, Any]:
    args = [f"watch:=window:{TITLE}", f"llm:={llm}", "llm_seed:=7", "tts:=tone",
            "audio_device:=wav", "mic:=false", "avatar:=false", "memory:=false",
            "quiet_s:=1000", "banter_turns:=0"]
    env = {"VT_DATA_DIR": str(work / "data"), "DISPLAY": display.name}
    await asyncio.to_thread(window.show, 0)
    with LaunchProcess(LAUNCH, args, env=env) as show:
        async with Probe(show.bus_url, "_bench_watch") as probe:
            for topic in TOPICS:
                probe.collect(topic)
            await asyncio.to_thread(show.wait_output, "every node on the bus", START_S)
            # not before: the director takes any subscriber of llm/request for an LLM
            probe.collect("llm/request")
            setter = probe.create_client(SetParameters, "director/set_parameters")
            if not await setter.wait_for_service(60):
                raise RuntimeError("the director's director/set_parameters does not answer")
            reply = await setter.call(ParamSetRequest(values={"watch_comment_s": 0.0}),
                                      timeout=10)
            if not reply.successful:
                raise RuntimeError(f"the director refused watch_comment_s: {reply.reason}")
            await probe.wait_for("game/frame", timeout=START_S)  # the window is watched
            said = [await one_comment(probe, window, 1 + n % (len(SCENES) - 1))
                    for n in range(count)]
        status = await asyncio.to_thread(show.interrupt, 60)
    hops = {"scene_to_frame": [(c.frame_ns - c.shown_ns) / 1e6 for c in said],
            "frame_to_comment": [(c.sentence_ns - c.frame_ns) / 1e6 for c in said],
            "frame_to_turn": [(c.turn_ns - c.frame_ns) / 1e6 for c in said],
            "turn_to_request": [(c.request_ns - c.turn_ns) / 1e6 for c in said],
            "request_to_sentence": [(c.sentence_ns - c.request_ns) / 1e6 for c in said]}
    out: dict[str, Any] = {"llm": llm, "comments": len(said),
                           "prompts_quoting_screen_text": sum(c.quoted for c in said),
                           "commentators": sorted({c.persona for c in said}),
                           "show_exit_status": status}
    for hop, values in hops.items():
        out[f"{hop}_p50_ms"] = p50(values)
    out["frame_to_comment_ms"] = [round(v, 1) for v in hops["frame_to_comment"]]
    out["first_sentences"] = [c.said for c in said]
    return out


# ------------------------------------------------------------------ the run


async def on_display(args: Any, work: Path) -> dict[str, Any]:
    """The parts that need the display: capture and OCR, then the show."""
    with Xvfb() as display:
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display.name  # mss, xdotool and the scene window read it
        try:
            with SceneWindow(display.name, TITLE, list(SCENES), flicker=True,
                             geometry="1280x720+0+0") as window:
                out = await capture(display, window, args.seconds, args.frames, args.ocr_rounds)
                if args.comments:
                    out["comment"] = await comments(display, window, args.comments, args.llm,
                                                    work)
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old
    return out


@dataclass(frozen=True)
class Sizes:
    """How much each part measures (the options of the same names)."""

    seconds: float
    frames: int
    ocr_rounds: int
    seeds: int
    clip_s: float
    comments: int
    llm: str


FULL = Sizes(seconds=30.0, frames=60, ocr_rounds=3, seeds=5, clip_s=120.0, comments=4,
             llm="llamacpp")
QUICK = Sizes(seconds=6.0, frames=10, ocr_rounds=1, seeds=2, clip_s=60.0, comments=2,
              llm="scripted")
"""``--quick`` (CI); an option given on the command line wins over either."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"short runs for CI: {asdict(QUICK)}")
    parser.add_argument("--seconds", type=float,
                        help="paced capture at 2 fps, screen source (the window source: half)")
    parser.add_argument("--frames", type=int,
                        help="unthrottled frames, and bare grabs (the baseline)")
    parser.add_argument("--ocr-rounds", type=int,
                        help="times each of the window's scenes is read with OCR")
    parser.add_argument("--seeds", type=int, help="generated clips scored")
    parser.add_argument("--clip-s", type=float, help="length of each generated clip, seconds")
    parser.add_argument("--comments", type=int, help="new scenes the show comments on (0: no "
                        "show)")
    parser.add_argument("--llm", choices=("llamacpp", "scripted"),
                        help="the show's LLM: the bundled model or the zero-time stand-in")
    args = parser.parse_args(argv)
    for name, value in asdict(QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    results: dict[str, Any] = {"machine": machine()}
    results |= scenes(args.seeds, args.clip_s)
    with tempfile.TemporaryDirectory(prefix="vt-watch-", dir="/tmp") as work:
        display = asyncio.run(on_display(args, Path(work)))
    comment = display.pop("comment", None)
    results |= display
    if comment is not None:
        results["machine_after_show"] = machine()
        results["frame_to_comment_p50_ms"] = comment["frame_to_comment_p50_ms"]
        results["comment"] = comment
    return emit(results, args.json, human)


def human(results: dict[str, Any]) -> str:
    """The headline figures, one a line; the parts' details as they are."""
    flat = {k: v for k, v in results.items() if not isinstance(v, dict | list)}
    width = max(len(k) for k in flat)
    lines = [f"{k:<{width}}  {v}" for k, v in flat.items()]
    lines += [f"scenes, seed {s['seed']}: {s}" for s in results["scene_seeds"]]
    if "comment" in results:
        lines.append(f"comment: {results['comment']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
