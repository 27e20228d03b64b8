"""Chat node figures: flood ingest with triage, and a line on the socket to ``chat/message``.

- ``ingest_msgs_per_s``: raid lines parsed, mapped, checked for commands and triaged, in one
  process (the node's per-message work without the bus); ``parse_msgs_per_s`` is the parser
  alone, measured in the same run, and ``triage_cost_ratio`` the one over the other.
- ``line_to_bus_p50_ms`` / ``_p99_ms``: a PRIVMSG written by the loopback Twitch server (plain
  IRC; ``_tls_`` for IRC over TLS) until a Probe on a real vtbus receives it on
  ``chat/message`` from a real chat node process; one line at a time.
- ``flood_5000_to_bus_s``: 5,000 lines sent at once until the last one is on the bus.

Run: ``python benchmarks/chat.py [--json] [--samples N]``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this folder would come first and its bus.py shadow the `bus` package;
# the loopback fakes live with the tests
sys.path[:1] = [str(ROOT), str(ROOT / "tests")]

from fakes.twitch import FakeTwitch, make_certificate, privmsg  # noqa: E402

from benchmarks.report import arguments, emit, percentile, ratio  # noqa: E402
from bus.testing import BusProcess, NodeProcess, Probe  # noqa: E402
from messages.chat import ChatMessage  # noqa: E402
from nodes.chat.commands import Commands  # noqa: E402
from nodes.chat.triage import Triage  # noqa: E402
from nodes.chat.twitch.irc import parse_line, to_chat_message  # noqa: E402

TOKEN = "bench-token"
CERT_HOST = "irc.chat.twitch.test"


def raid_lines(count: int, channel: str = "bench") -> list[str]:
    """A raid: mostly distinct greetings, a copypasta every 4th line, a cheer every 250th."""
    lines = []
    for i in range(count):
        user = f"raider{i % 1500}"
        if i % 4 == 0:
            lines.append(privmsg(channel, user, "RAID HYPE RAID HYPE", msg_id=f"r{i}"))
        else:
            lines.append(privmsg(channel, user, f"hi from the raid {i}", msg_id=f"r{i}",
                                 first=i % 7 == 0))
        if i % 250 == 0:
            lines[-1] = lines[-1].replace("@badge-info=;", "@badge-info=;bits=100;")
    return lines


def _parse_only(lines: list[str]) -> float:
    start = time.perf_counter()
    for line in lines:
        to_chat_message(parse_line(line))
    return time.perf_counter() - start


def _ingest(lines: list[str]) -> float:
    triage = Triage(counts=Counter())
    commands = Commands(personas=["Aria", "Blaze"])
    start = time.perf_counter()
    for line in lines:
        msg = to_chat_message(parse_line(line))
        assert msg is not None
        now = time.monotonic()
        if commands.handle(msg, now) is None:
            triage.offer(msg, now)
    return time.perf_counter() - start


def measure_ingest(count: int, rounds: int = 3) -> dict[str, float]:
    """Best of ``rounds`` alternating runs of each (a shared machine is noisy)."""
    lines = raid_lines(count)
    parse_s = ingest_s = float("inf")
    for _ in range(rounds):
        parse_s = min(parse_s, _parse_only(lines))
        ingest_s = min(ingest_s, _ingest(lines))
    return {
        "ingest_msgs_per_s": round(count / ingest_s),
        "parse_msgs_per_s": round(count / parse_s),
        "triage_cost_ratio": ratio(ingest_s, parse_s),
    }


async def measure_line_to_bus(bus_url: str, transport: str, samples: int,
                              flood: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    tls = None
    params: dict[str, Any] = {"sources": "twitch", "twitch_channel": "bench",
                              "triage": {"user_limit": 1_000_000, "max_queue": 100_000}}
    if transport == "ircs":
        cert, key = make_certificate(folder, CERT_HOST)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        params |= {"twitch_ca_file": str(cert), "twitch_server_hostname": CERT_HOST}
    async with FakeTwitch(transport, token=TOKEN, tls=tls) as server:
        params["twitch_url"] = server.url
        env = {**os.environ, "TWITCH_OAUTH_TOKEN": TOKEN, "TWITCH_LOGIN": "bench_bot"}
        with NodeProcess("nodes.chat", bus_url, name="chat", params=params, env=env):
            async with Probe(bus_url, name=f"_bench_{transport}") as probe:
                arrivals: dict[str, float] = {}

                def arrived(msg: ChatMessage) -> None:
                    arrivals[msg.id] = time.perf_counter()

                probe.create_subscription(ChatMessage, "chat/message", arrived)
                await probe.wait_for_node("chat")
                await server.wait_joined(timeout=30)
                await asyncio.sleep(0.5)
                latencies = []
                for i in range(samples + 10):  # the first 10 warm up
                    msg_id = f"lat-{transport}-{i}"
                    line = privmsg("bench", f"user{i}", f"latency probe {i}", msg_id=msg_id)
                    sent = time.perf_counter()
                    await server.send(line)
                    while msg_id not in arrivals:
                        await asyncio.sleep(0.0002)
                        if time.perf_counter() - sent > 5:
                            raise TimeoutError(f"{msg_id} never reached chat/message")
                    if i >= 10:
                        latencies.append((arrivals[msg_id] - sent) * 1000)
                    await asyncio.sleep(0.005)
                figures = {
                    f"line_to_bus{'_tls' if tls else ''}_p50_ms": round(
                        statistics.median(latencies), 3),
                    f"line_to_bus{'_tls' if tls else ''}_p99_ms": round(
                        percentile(latencies, 0.99), 3),
                }
                if flood:
                    lines = raid_lines(flood, "bench")
                    start = time.perf_counter()
                    await server.send(*lines)
                    last = f"r{flood - 1}"
                    while last not in arrivals:
                        await asyncio.sleep(0.001)
                        if time.perf_counter() - start > 60:
                            raise TimeoutError("the flood never finished")
                    figures[f"flood_{flood}_to_bus_s"] = round(arrivals[last] - start, 3)
                return figures


async def _bus_figures(samples: int) -> dict[str, float]:
    with BusProcess() as bus:
        figures = await measure_line_to_bus(bus.url, "irc", samples, flood=5000)
        figures |= await measure_line_to_bus(bus.url, "ircs", samples, flood=0)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--samples", type=int, default=300, help="latency samples per transport")
    parser.add_argument("--ingest", type=int, default=20_000, help="lines for the ingest figure")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = measure_ingest(args.ingest)
    figures |= asyncio.run(_bus_figures(args.samples))
    figures["samples"] = args.samples
    return emit(figures, args.json)


if __name__ == "__main__":
    main()
