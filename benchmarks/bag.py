"""Bag benchmarks: recording throughput and loss through a real vtbus, play timing error.

    python benchmarks/bag.py [--json] [--rates 10000,25000,50000,75000] [--seconds 2]

- Recording: a publisher process (a load generator speaking the wire format: see `blast`)
  sends 100 B messages at rising rates through a real vtbus
  while ``vtbag record`` (its own process) records them; the bag is then read back and
  counted. ``record_lossless_msgs_per_s`` is the highest rate actually achieved with nothing
  lost; ``drain_s`` says how long the recorder needed after the publisher stopped (a recorder
  slower than the rate catches up from the queues: 100k messages in its socket, 1M in vtbus),
  and ``record_sustained_msgs_per_s`` is what it kept up with, sent / (seconds + drain).
- Writing alone: microseconds per message of `BagWriter` against the `mcap` package's own
  writer (the baseline), same messages, same run.
- Playing: a bag with irregular gaps (0.1-20 ms) is played at rate 1; the error is
  ``|actual gap - recorded gap|`` between the publish stamps the played messages carry on
  the wire, p50/p99 in ms. The baseline is the same schedule kept by a bare event loop (no
  bag, no bus): on a shared, overloaded machine the scheduler's delays set the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import zmq  # noqa: E402

from benchmarks.report import arguments, emit, machine, percentile, ratio, table  # noqa: E402
from bus import wire  # noqa: E402
from bus.address import resolve  # noqa: E402
from bus.bag import BagReader, BagWriter, Player  # noqa: E402
from bus.bag.player import SPIN_S  # noqa: E402
from bus.bag.recorder import wait_joined  # noqa: E402
from bus.testing import BusProcess, Probe  # noqa: E402
from messages.base import Header  # noqa: E402
from messages.chat import ChatSay  # noqa: E402

TOPIC = "bench/data"
PAYLOAD = msgspec.msgpack.encode(ChatSay(text="x" * 76))  # 100 bytes on the wire


# ------------------------------------------------------------------ the publisher process


async def blast(bus_url: str, count: int, rate: float) -> None:
    """Publish ``count`` messages at ``rate`` per second; print sent, seconds, dropped.

    A load generator: it speaks the wire format (`bus.wire.pack`, a fresh header with its
    sequence number and stamp per message) straight through a pyzmq PUB socket, because a
    Node publisher tops out near 50k msg/s on this machine, below what the recorder takes.
    """
    async with Probe(bus_url, name="bench_waiter") as probe:
        await probe.wait_for_subscribers(TOPIC)
    address = resolve(bus_url)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.sndhwm = 1_000_000
    sock.connect(address.data_in)
    await asyncio.sleep(0.5)  # the subscription reaches this socket
    began = time.perf_counter()
    sent = dropped = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - began) * rate) + 1)
        while sent < due:
            header = Header("bench_publisher", sent, time.time_ns(), "chat.ChatSay")
            try:
                sock.send_multipart(wire.pack(TOPIC, header, PAYLOAD), zmq.NOBLOCK)
            except zmq.Again:
                dropped += 1
            sent += 1
        await asyncio.sleep(0.0005)
    elapsed = time.perf_counter() - began
    sock.close(linger=5000)  # let the queue empty before leaving
    ctx.term()
    print(json.dumps({"sent": sent, "seconds": elapsed, "dropped": dropped}))


# ------------------------------------------------------------------ recording


async def recorder_count(probe: Probe) -> int:
    """Messages the recorder has taken so far (from its heartbeat)."""
    graph = await probe.graph(timeout=2.0)
    for status in graph.nodes:
        if status.info.name == "vtbag_record":
            stats = status.info.sub_stats.get(TOPIC)
            return stats.count if stats is not None else 0
    return 0


def record_at(bus_url: str, rate: int, seconds: float, folder: Path) -> dict[str, Any]:
    bag = folder / f"rate_{rate}.mcap"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "bus.cli.vtbag", "record", TOPIC, "-o", str(bag), "--bus",
         bus_url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    count = int(rate * seconds)
    try:
        publisher = subprocess.run(
            [sys.executable, __file__, "--blast", bus_url, str(count), str(rate)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
        sent = json.loads(publisher.stdout.strip().splitlines()[-1])
        finished = time.perf_counter()

        async def drained() -> float:
            async with Probe(bus_url, name="bench_watch") as probe:
                await wait_joined(probe)
                while await recorder_count(probe) < sent["sent"]:
                    if time.perf_counter() - finished > 30:
                        break
                    await asyncio.sleep(0.1)
            return time.perf_counter() - finished

        drain_s = asyncio.run(drained())
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.communicate(timeout=60)
    seqs = [m.header.seq for m in BagReader(bag).messages([TOPIC])]
    bag.unlink(missing_ok=True)
    return {
        "target_msgs_per_s": rate,
        "achieved_msgs_per_s": round(sent["sent"] / sent["seconds"]),
        "sent": sent["sent"],
        "recorded": len(seqs),
        "lost": sent["sent"] - len(set(seqs)),
        "drain_s": round(drain_s, 2),
        # what the recorder itself kept up with (a lower bound: its count is seen through its
        # 1 s heartbeat)
        "recorder_msgs_per_s": round(len(seqs) / (sent["seconds"] + drain_s)),
    }


# ------------------------------------------------------------------ writing alone


def writer_cost(count: int = 100_000) -> dict[str, float]:
    from mcap.writer import Writer

    encoder = msgspec.msgpack.Encoder()
    headers = [Header("bench", i, 10**18 + i, "chat.ChatSay") for i in range(count)]
    raws = [encoder.encode(h) for h in headers]
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        with BagWriter(Path(folder) / "ours.mcap") as writer:
            for h, raw in zip(headers, raws, strict=True):
                writer.write(TOPIC, h, raw, PAYLOAD, h.stamp_ns)
        ours = (time.perf_counter() - began) / count * 1e6
    stream = io.BytesIO()
    began = time.perf_counter()
    baseline = Writer(stream)
    baseline.start()
    channel = baseline.register_channel(TOPIC, "msgpack", 0)
    for h, raw in zip(headers, raws, strict=True):  # the same record data, built the same way
        baseline.add_message(channel, h.stamp_ns, b"\x92" + raw + b"\xc4d" + PAYLOAD, h.stamp_ns,
                             h.seq)
    baseline.finish()
    theirs = (time.perf_counter() - began) / count * 1e6
    return {"bagwriter_us_per_msg": round(ours, 2), "mcap_writer_us_per_msg": round(theirs, 2),
            "bagwriter_speedup_vs_mcap_writer": ratio(theirs, ours)}


# ------------------------------------------------------------------ playing


def timed_stamps(count: int, seed: int) -> list[int]:
    """Publish stamps 0.1-20 ms apart (exponential, mean 3 ms), in ns."""
    rng = random.Random(seed)
    stamps, stamp = [], 10**18
    for _ in range(count):
        stamp += int(min(20.0, max(0.1, rng.expovariate(1 / 3.0))) * 1e6)
        stamps.append(stamp)
    return stamps


def make_timed_bag(path: Path, stamps: list[int]) -> None:
    encoder = msgspec.msgpack.Encoder()
    with BagWriter(path) as writer:
        for i, stamp in enumerate(stamps):
            h = Header("bench", i, stamp, "chat.ChatSay", f"t{i}", stamp)
            writer.write(TOPIC, h, encoder.encode(h), PAYLOAD, stamp)


async def bare_loop_timing(stamps: list[int]) -> list[tuple[int, int]]:
    """The baseline: the same schedule kept by a bare event loop with the player's own wait
    (sleep, then spin the last stretch), no bag and no bus: the floor this machine allows."""
    clock = time.perf_counter
    began = clock()
    pairs = []
    for stamp in stamps:
        due = began + (stamp - stamps[0]) / 1e9
        remaining = due - clock()
        if remaining > SPIN_S + 0.0005:
            await asyncio.sleep(remaining - SPIN_S)
        while clock() < due:
            pass
        pairs.append((stamp, time.time_ns()))
    return pairs


def gap_errors_ms(pairs: list[tuple[int, int]]) -> list[float]:
    """Sorted |actual gap - recorded gap| between consecutive messages, in ms."""
    return sorted(abs((b[1] - a[1]) - (b[0] - a[0])) / 1e6 for a, b in itertools.pairwise(pairs))


def pct(errors: list[float], q: float) -> float:
    return round(percentile(errors, q), 3)


async def play_timing(bus_url: str, folder: Path, count: int,
                      seed: int) -> dict[str, float | None]:
    bag = folder / "timed.mcap"
    stamps = timed_stamps(count, seed)
    make_timed_bag(bag, stamps)
    player = Player(bag, bus=bus_url, keep_timing=True)
    try:
        result = await player.play()
    finally:
        await player.close()
    errors = gap_errors_ms(result.timing)
    baseline = gap_errors_ms(await bare_loop_timing(stamps))
    return {"play_gap_error_p50_ms": pct(errors, 0.5), "play_gap_error_p99_ms": pct(errors, 0.99),
            "play_gap_error_max_ms": round(errors[-1], 3), "play_messages": len(result.timing),
            "bare_loop_gap_error_p50_ms": pct(baseline, 0.5),
            "bare_loop_gap_error_p99_ms": pct(baseline, 0.99),
            "play_gap_error_p99_vs_bare_loop": ratio(pct(errors, 0.99),
                                                     max(pct(baseline, 0.99), 1e-3))}


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--rates", default="10000,25000,50000,75000,100000")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--play-messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--blast", nargs=3, metavar=("BUS", "COUNT", "RATE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blast:
        asyncio.run(blast(args.blast[0], int(args.blast[1]), float(args.blast[2])))
        return {}
    figures: dict[str, Any] = {"machine": machine(), "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="vtbag-bench-") as tmp, BusProcess(
        env={"PYTHONUNBUFFERED": "1"}
    ) as bus:
        folder = Path(tmp)
        runs = []
        for rate in (int(r) for r in args.rates.split(",")):
            runs.append(record_at(bus.url, rate, args.seconds, folder))
            if not args.json:
                print(f"record at {rate}/s: {runs[-1]}", file=sys.stderr)
        lossless = [r["achieved_msgs_per_s"] for r in runs if r["lost"] == 0]
        figures["record_lossless_msgs_per_s"] = max(lossless, default=0)
        figures["record_sustained_msgs_per_s"] = max(r["recorder_msgs_per_s"] for r in runs)
        figures["record_runs"] = runs
        figures.update(writer_cost())
        figures.update(asyncio.run(play_timing(bus.url, folder, args.play_messages, args.seed)))
    return emit(figures, args.json, human=lambda f: table(
        {k: v for k, v in f.items() if k != "record_runs"}))


if __name__ == "__main__":
    main()
