"""Bus benchmark: one-way latency through vtbus against raw pyzmq through a bare forwarder,
and throughput with loss at a rated load.

Three paths are measured in the same run, each sender and receiver in its own process:

- ``raw``: raw pyzmq PUB -> a bare ``zmq.proxy`` (XSUB/XPUB) -> raw SUB: the baseline;
- ``raw_vtbus``: the same raw sockets through vtbus (the broker's own cost);
- ``bus``: a `Node` publisher -> vtbus -> a `Node` subscription (the framework's whole cost:
  header, msgspec, the asyncio reader).

Usage: ``python benchmarks/bus.py [--json] [--samples N]``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

# Run as a script, this file's folder comes first on sys.path and its name shadows the `bus`
# package: put the repository there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.report import arguments, emit, machine, percentile, ratio  # noqa: E402
from bus.address import resolve  # noqa: E402
from bus.node import Node, NodeOptions  # noqa: E402
from bus.testing import BusProcess  # noqa: E402
from messages.demo import Count  # noqa: E402

HWM = 1_000_000
TOPIC = "bench/latency"
SIZES = (100, 65536)
WARMUP = 50


# ------------------------------------------------------------------ child processes


def run_proxy(folder: str) -> None:
    """A bare forwarder, as DESIGN.md measured it, with the same explicit queue limits."""
    ctx = zmq.Context()
    xsub, xpub = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB)
    for sock in (xsub, xpub):
        sock.sndhwm = sock.rcvhwm = HWM
    xsub.bind(f"ipc://{folder}/in")
    xpub.bind(f"ipc://{folder}/out")
    print("ready", flush=True)
    zmq.proxy(xsub, xpub)


def run_raw_receiver(endpoint: str, count: int) -> None:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.rcvhwm = HWM
    sub.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
    sub.connect(endpoint)
    print("ready", flush=True)
    latencies = []
    for _ in range(count):
        _, payload = sub.recv_multipart()
        latencies.append((time.monotonic_ns() - int.from_bytes(payload[:8], "little")) / 1e3)
    print(json.dumps(latencies[WARMUP:]), flush=True)


def run_node_receiver(bus_url: str, count: int) -> None:
    async def main() -> None:
        node = Node("_bench_receiver", options=NodeOptions(bus=bus_url, hidden=True))
        latencies: list[float] = []
        done = asyncio.Event()

        def on_message(msg: Count) -> None:
            latencies.append((time.monotonic_ns() - msg.value) / 1e3)
            if len(latencies) >= count:
                done.set()

        node.create_subscription(Count, TOPIC, on_message)
        await node.start()
        print("ready", flush=True)
        await done.wait()
        print(json.dumps(latencies[WARMUP:]), flush=True)
        await node.close()

    asyncio.run(main())


def run_throughput_receiver(bus_url: str, count: int, seconds: float) -> None:
    async def main() -> None:
        node = Node("_bench_sink", options=NodeOptions(bus=bus_url, hidden=True))
        received = 0
        first = last = 0.0

        def on_message(msg: Count) -> None:
            nonlocal received, first, last
            last = time.perf_counter()
            if not received:
                first = last
            received += 1

        sub = node.create_subscription(Count, "bench/throughput", on_message)
        await node.start()
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        while received < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        print(json.dumps({"received": received, "lost_by_seq": sub.stats.dropped,
                          "seconds": last - first}), flush=True)
        await node.close()

    asyncio.run(main())


# ------------------------------------------------------------------ the measuring side


def _child(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, __file__, "--role", *args], text=True,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"benchmark child {args} failed to start")
    return proc


def _result(proc: subprocess.Popen[str], timeout: float = 60) -> Any:
    out, _ = proc.communicate(timeout=timeout)
    return json.loads(out)


def measure_raw(pub_endpoint: str, sub_endpoint: str, size: int, samples: int) -> list[float]:
    receiver = _child("raw-recv", sub_endpoint, str(samples + WARMUP))
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.sndhwm = HWM
    pub.connect(pub_endpoint)
    time.sleep(0.5)  # the subscription travels to this new publisher
    padding = b"x" * (size - 8)
    for _ in range(samples + WARMUP):
        pub.send_multipart([TOPIC.encode(), time.monotonic_ns().to_bytes(8, "little") + padding])
        time.sleep(0.001)
    latencies: list[float] = _result(receiver)
    pub.close(linger=1000)
    return latencies


def measure_bus(bus_url: str, size: int, samples: int) -> list[float]:
    receiver = _child("node-recv", bus_url, str(samples + WARMUP))

    async def send() -> None:
        node = Node("_bench_sender", options=NodeOptions(bus=bus_url, hidden=True))
        publisher = node.create_publisher(Count, TOPIC)
        await node.start()
        await publisher.wait_for_subscribers(10)
        padding = "x" * (size - 20)  # the msgpack of a Count with this text is about `size`
        for _ in range(samples + WARMUP):
            publisher.publish(Count(value=time.monotonic_ns(), text=padding))
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.2)
        await node.close()

    asyncio.run(send())
    latencies: list[float] = _result(receiver)
    return latencies


def measure_throughput(bus_url: str, rate: int, seconds: float) -> dict[str, float]:
    """Publish 100 B messages at ``rate`` per second (in 1 ms batches) through vtbus."""
    total = int(rate * seconds)
    receiver = _child("sink", bus_url, str(total), str(seconds + 10))

    async def send() -> float:
        node = Node("_bench_source", options=NodeOptions(bus=bus_url, hidden=True))
        publisher = node.create_publisher(Count, "bench/throughput")
        await node.start()
        await publisher.wait_for_subscribers(10)
        msg = Count(value=0, text="x" * 80)
        batch = max(1, rate // 1000)
        start = time.perf_counter()
        sent = 0
        while sent < total:
            for _ in range(min(batch, total - sent)):
                publisher.publish(msg)
            sent += batch
            lag = start + sent / rate - time.perf_counter()
            await asyncio.sleep(max(0.0, lag))
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0.5)
        await node.close()
        return elapsed

    send_seconds = asyncio.run(send())
    got = _result(receiver, timeout=seconds + 30)
    return {
        "offered_msgs_per_s": total / send_seconds,
        "throughput_msgs_per_s": got["received"] / max(got["seconds"], 1e-9),
        "lost": total - got["received"],
        "lost_by_seq": got["lost_by_seq"],
    }


def summarise(latencies: list[float]) -> dict[str, float]:
    return {"p50_us": statistics.median(latencies), "p99_us": percentile(latencies, 0.99)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--samples", type=int, default=1000, help="latency samples per path")
    parser.add_argument("--rate", type=int, default=100_000, help="rated load, messages/s")
    parser.add_argument("--seconds", type=float, default=2.0, help="throughput run length")
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="vt-bench-", dir="/tmp")
    proxy = subprocess.Popen([sys.executable, __file__, "--role", "proxy", folder], text=True,
                             stdout=subprocess.PIPE)
    assert proxy.stdout is not None
    proxy.stdout.readline()
    results: dict[str, Any] = {"machine": machine(), "samples": args.samples}
    try:
        with BusProcess(ttl_s=5.0) as bus:
            vtbus = resolve(bus.url)
            for size in SIZES:
                raw = summarise(measure_raw(f"ipc://{folder}/in", f"ipc://{folder}/out", size,
                                            args.samples))
                raw_vtbus = summarise(measure_raw(vtbus.data_in, vtbus.data_out, size,
                                                  args.samples))
                node = summarise(measure_bus(bus.url, size, args.samples))
                key = "100B" if size == 100 else "64KiB"
                results[key] = {
                    "raw_p50_us": raw["p50_us"], "raw_p99_us": raw["p99_us"],
                    "raw_vtbus_p50_us": raw_vtbus["p50_us"], "raw_vtbus_p99_us": raw_vtbus["p99_us"],
                    "bus_p50_us": node["p50_us"], "bus_p99_us": node["p99_us"],
                    "p50_ratio": ratio(node["p50_us"], raw["p50_us"]),
                    "broker_p50_ratio": ratio(raw_vtbus["p50_us"], raw["p50_us"]),
                }
            results.update(measure_throughput(bus.url, args.rate, args.seconds))
    finally:
        proxy.terminate()
        proxy.wait(5)
    small = results["100B"]
    for key in ("bus_p50_us", "raw_p50_us", "p50_ratio", "bus_p99_us"):
        results[key] = small[key]  # the headline figures are for 100 B
    return emit(results, args.json, human)


def human(results: dict[str, Any]) -> str:
    """The figures side by side: each size's three paths, then the rated load."""
    lines = []
    for key in ("100B", "64KiB"):
        r = results[key]
        lines.append(f"{key:>6}: bus p50 {r['bus_p50_us']:.0f} us (p99 {r['bus_p99_us']:.0f}), "
                     f"raw via bare proxy p50 {r['raw_p50_us']:.0f} us "
                     f"(p99 {r['raw_p99_us']:.0f}), raw via vtbus p50 "
                     f"{r['raw_vtbus_p50_us']:.0f} us; ratio bus/raw {r['p50_ratio']:.2f}, "
                     f"vtbus/bare {r['broker_p50_ratio']:.2f}")
    lines.append(f"throughput: {results['offered_msgs_per_s']:.0f} msgs/s offered, "
                 f"{results['throughput_msgs_per_s']:.0f} received, lost {results['lost']}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        role, *rest = sys.argv[2:]
        if role == "proxy":
            run_proxy(rest[0])
        elif role == "raw-recv":
            run_raw_receiver(rest[0], int(rest[1]))
        elif role == "node-recv":
            run_node_receiver(rest[0], int(rest[1]))
        elif role == "sink":
            run_throughput_receiver(rest[0], int(rest[1]), float(rest[2]))
    else:
        main()
