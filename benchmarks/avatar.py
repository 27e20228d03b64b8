"""Avatar benchmark: parameter injection rate and regularity, and the lip-sync offset between
the audible speech and the mouth that VTube Studio receives.

The avatar node runs as its own process on a real bus, as in a show, against two loopback VTS
stand-ins in this process; the speech is real (bundled Piper voice), played on a virtual
speaker that publishes the playhead as the speaker node does. Aria speaks with phoneme
timings, then Kai the same sentences without (loudness envelope only).

Figures:
- ``inject_hz``, ``inject_jitter_ms``: the node's 60 Hz loop over the speech (its own tick
  intervals, standard deviation); ``received_*_at_vts``: the same seen at the stand-in (adds
  this process's own scheduling noise).
- ``lipsync_offset_ms``: the lag (positive: mouth late) that best aligns, by cross-correlation
  on a 1 ms grid, the mouth values VTS received with the loudness of the audio as heard;
  ``_envelope``: the same without phonemes. ``onset_offset_ms``: first mouth value above 0.1
  after each sentence's first sound above -40 dBFS, the mean over sentences (threshold-bound:
  a sentence starting with "m" rightly keeps the lips shut).
- Baseline, same run: a bare asyncio loop sleeping to the same deadlines (``*_bare_loop_*``),
  the machine's own timer noise.

Run: ``python benchmarks/avatar.py [--json] [--sentences N]``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.speaker import (  # noqa: E402
    mouth_agreement,
    onset_offsets,
    piper_sentences,
    speak,
    sync_lag,
)
from fakes.vts import FakeVts  # noqa: E402

from benchmarks.report import arguments, emit, ratio  # noqa: E402
from bus.testing import BusProcess, NodeProcess, Probe, wait_until  # noqa: E402
from nodes.avatar.node import AvatarNode  # noqa: E402
from nodes.avatar.scheduler import Ticker  # noqa: E402

TEXT = (
    "Hello there, friends. Welcome back to the show! Today we are talking about cats. "
    "Why do they sit in boxes? Nobody knows, but we have theories. "
    "My partner thinks it is about warmth. I think they just like to hide. "
    "Let us ask the chat what they think. Wow, that was quick!"
)


def _intervals_ms(stamps_ns: list[int]) -> list[float]:
    return [(b - a) / 1e6 for a, b in itertools.pairwise(stamps_ns)]


async def _tick_counters(probe: Probe, newer_than: int = -1) -> dict[str, int]:
    """The node's counters (from its heartbeat) once they count more than ``newer_than`` ticks."""
    while True:
        graph = await probe.graph()
        counters = next((n.info.counters for n in graph.nodes if n.info.name == "avatar"), {})
        if counters.get("ticks", -1) > newer_than:
            return counters
        await asyncio.sleep(0.2)


def _tick_figures(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """Rate and jitter of the node's injection loop over the ticks between two snapshots."""
    n = after["ticks"] - before["ticks"]
    total = after["tick_sum_us"] - before["tick_sum_us"]
    squares = after["tick_sum_sq_us"] - before["tick_sum_sq_us"]
    mean = total / n
    return {
        "inject_hz": 1e6 / mean,
        "inject_jitter_ms": math.sqrt(max(0.0, squares / n - mean * mean)) / 1000.0,
        "ticks_skipped": after["ticks_skipped"] - before["ticks_skipped"],
    }


async def _bare_loop_jitter(hz: float, seconds: float) -> float:
    """Standard deviation (ms) of a bare drift-free 60 Hz asyncio loop's intervals."""
    ticker = Ticker(hz, lambda now: None)
    task = asyncio.create_task(ticker.run())
    await asyncio.sleep(seconds)
    task.cancel()
    return ticker.stats.std * 1000.0


async def _run(sentence_count: int, inject_hz: float, lookahead_ms: float) -> dict[str, Any]:
    sentences = piper_sentences(TEXT)[:sentence_count]
    tokens = tempfile.mkdtemp(prefix="vt-avatar-bench-")
    results: dict[str, Any] = {}
    params = {
        "avatars": [{"persona": "aria", "host": "127.0.0.1", "port": 0},
                    {"persona": "kai", "host": "127.0.0.1", "port": 0,
                     "partner_direction": -1.0}],
        "token_dir": tokens, "seed": 11, "inject_hz": inject_hz, "lookahead_ms": lookahead_ms,
    }
    async with FakeVts() as aria, FakeVts() as kai:
        params["avatars"][0]["port"] = aria.port  # type: ignore[index]
        params["avatars"][1]["port"] = kai.port  # type: ignore[index]
        with BusProcess() as bus, NodeProcess("nodes.avatar", bus.url, params=params):
            probe = Probe(bus.url)
            await probe.start()
            await wait_until(lambda: aria.authenticated_sessions and kai.authenticated_sessions,
                             20, what="the avatars to authenticate")
            await probe.wait_for_subscribers("audio/playhead")
            before = await _tick_counters(probe)
            start = time.time_ns()
            played = await speak(probe.publish, "aria", "bench-phonemes", sentences,
                                 emotions=["happy"])
            played_envelope = await speak(probe.publish, "kai", "bench-envelope", sentences,
                                          phonemes=False)
            end = time.time_ns()
            after = await _tick_counters(probe, newer_than=before["ticks"] + 60)
            await probe.close()
        stamps = [t for t, _ in aria.series("MouthOpen") if start <= t <= end]
        intervals = _intervals_ms(stamps)
        mouth, mouth_envelope = aria.series("MouthOpen"), kai.series("MouthOpen")
        onsets = onset_offsets(played, mouth, phonemes=False)
        onsets_envelope = onset_offsets(played_envelope, mouth_envelope, phonemes=False)
        speech_open, silence_closed = mouth_agreement(played, mouth)
        results.update({
            **_tick_figures(before, after),
            "received_hz_at_vts": len(stamps) / ((stamps[-1] - stamps[0]) / 1e9),
            "received_jitter_at_vts_ms": statistics.pstdev(intervals),
            "lipsync_offset_ms": 1000.0 * sync_lag(played, mouth),
            "lipsync_offset_envelope_ms": 1000.0 * sync_lag(played_envelope, mouth_envelope),
            "onset_offset_ms": 1000.0 * statistics.mean(onsets),
            "onset_offset_max_abs_ms": 1000.0 * max(abs(x) for x in onsets),
            "onset_offset_envelope_ms": 1000.0 * statistics.mean(onsets_envelope),
            "onset_offset_envelope_max_abs_ms": 1000.0 * max(abs(x) for x in onsets_envelope),
            "onsets": len(onsets),
            "mouth_open_in_speech": speech_open,
            "mouth_closed_in_silence": silence_closed,
            "parameter_lapses": len(aria.lapses) + len(kai.lapses),
            "speech_seconds": (played_envelope[-1].end_ns - played[0].start_ns) / 1e9,
        })
    bare = await _bare_loop_jitter(inject_hz, 3.0)
    results["baseline_bare_loop_jitter_ms"] = bare
    results["jitter_vs_bare_loop"] = ratio(results["inject_jitter_ms"], bare)
    results["inject_hz_target"] = inject_hz
    results["lookahead_ms"] = lookahead_ms
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--sentences", type=int, default=8, help="Piper sentences per mode")
    parser.add_argument("--hz", type=float, default=60.0, help="injection rate")
    parser.add_argument("--lookahead-ms", type=float, default=None,
                        help="override the node's default lookahead")
    args = parser.parse_args(argv)
    lookahead = args.lookahead_ms
    if lookahead is None:
        lookahead = AvatarNode.DEFAULT_LOOKAHEAD_MS
    results = asyncio.run(_run(args.sentences, args.hz, lookahead))
    return emit(results, args.json)


if __name__ == "__main__":
    main()
