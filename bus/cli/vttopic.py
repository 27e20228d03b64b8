"""vttopic: look at and talk to topics, like ``ros2 topic``.

    vttopic list [-t]            topics that have publishers or subscribers
    vttopic info TOPIC           type, publishers, subscribers, rates
    vttopic echo TOPIC           print messages (--once, --field a.b, --json)
    vttopic hz TOPIC             rate, from publish stamps; drops from sequence numbers
    vttopic bw TOPIC             bandwidth
    vttopic delay TOPIC          age at arrival, and age of the chain (trace)
    vttopic pub TOPIC JSON       publish (--once, --rate HZ); omitted fields take defaults
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec
import typer

from bus import protocol as p
from bus.cli.output import Output, plain, to_plain
from bus.cli.session import BUS_OPTION, fetch_graph, run_tool, tool_node
from bus.errors import VtError
from bus.node import Node, RawMessage
from bus.wire import decode_payload
from messages.base import Message
from messages.catalog import TOPICS, type_for_tag

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

JSON_OPTION = typer.Option(None, "--json/--human", help="JSON lines (default when piped)")


def _topics(graph: p.Graph, include_hidden: bool) -> dict[str, dict[str, Any]]:
    """topic -> {type, latched, publishers, subscribers} over every live node."""
    topics: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"type": "", "latched": False, "publishers": [], "subscribers": []}
    )
    for status in graph.nodes:
        info = status.info
        if info.hidden and not include_hidden:
            continue
        for ep in info.publishers:
            entry = topics[ep.name]
            entry["type"] = ep.type
            entry["latched"] = entry["latched"] or ep.latched
            entry["publishers"].append(info.name)
        for ep in info.subscriptions:
            entry = topics[ep.name]
            if not entry["type"] and ep.type != "*":
                entry["type"] = ep.type
            entry["subscribers"].append(info.name)
    topics.pop("", None)  # prefix-subscriptions of recorders, not a topic
    return dict(sorted(topics.items()))


@app.command("list")
def list_topics(
    show_types: bool = typer.Option(False, "-t", "--show-types", help="show each topic's type"),
    all_nodes: bool = typer.Option(False, "-a", "--all", help="include the tools' own topics"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Topics that some live node publishes or subscribes to."""
    out = Output(json_mode)

    async def main() -> None:
        async with tool_node(bus, "vttopic") as node:
            topics = _topics(await fetch_graph(node), all_nodes)
        for name, entry in topics.items():
            if out.json:
                out.record({"topic": name, **entry})
            elif show_types:
                out.line(f"{plain(name)} [dim]\\[{plain(entry['type'])}][/dim]")
            else:
                out.line(plain(name))

    run_tool(out, main)


@app.command()
def info(topic: str, bus: str | None = BUS_OPTION, json_mode: bool | None = JSON_OPTION) -> None:
    """Type, latching, publishers and subscribers of TOPIC, with rates."""
    out = Output(json_mode)

    async def main() -> None:
        async with tool_node(bus, "vttopic") as node:
            graph = await fetch_graph(node)
        entry = _topics(graph, True).get(topic)
        if entry is None:
            known = TOPICS.get(topic)
            raise VtError(
                f"no live node publishes or subscribes to {topic!r}"
                + (f" (a catalogue topic of type {known.type.__name__})" if known else "")
            )
        rates = {
            s.info.name: s.info.pub_stats.get(topic, p.TopicStats()).rate_hz
            for s in graph.nodes if s.info.name in entry["publishers"]
        }
        result = {"topic": topic, **entry, "publish_rate_hz": rates}
        if out.json:
            out.record(result)
            return
        out.line(f"[bold]{plain(topic)}[/bold]  type: {plain(entry['type'])}"
                 + ("  [yellow](latched)[/yellow]" if entry["latched"] else ""))
        out.line(f"publishers ({len(entry['publishers'])}):")
        for name, rate in rates.items():
            out.line(f"  {plain(name)}  {rate:.1f} Hz")
        out.line(f"subscribers ({len(entry['subscribers'])}):")
        for name in entry["subscribers"]:
            out.line(f"  {plain(name)}")

    run_tool(out, main)


def _field(value: Any, path: str) -> Any:
    """``a.b.0`` into nested dicts and lists."""
    for part in path.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise VtError(f"field {path!r}: no {part!r} in {type(value).__name__}")
    return value


def _human(value: Any) -> Any:
    """For people: bytes as their size, not base64."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: _human(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_human(v) for v in value]
    return value


@app.command()
def echo(
    topic: str,
    once: bool = typer.Option(False, "--once", help="print one message and exit"),
    count: int = typer.Option(0, "--count", "-n", help="exit after N messages (0: never)"),
    field: str | None = typer.Option(None, "--field", "-f", help="print only this field (a.b.0)"),
    header: bool = typer.Option(False, "--header", help="print the header too"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Print the messages on TOPIC as they arrive."""
    out = Output(json_mode)
    limit = 1 if once else count

    async def main() -> None:
        done = asyncio.Event()
        printed = 0

        def show(raw: RawMessage) -> None:
            nonlocal printed
            decoded = msgspec.to_builtins(decode_payload(raw.header, raw.payload))
            value = _field(decoded, field) if field else decoded
            if header:
                value = {"header": msgspec.structs.asdict(raw.header), "message": value}
            if out.json:
                out.record(value)
            else:
                out.show(_human(value))
                out.console.print("[dim]---[/dim]")
            printed += 1
            if limit and printed >= limit:
                done.set()

        async with tool_node(bus, "vttopic") as node:
            node.create_subscription(RawMessage, topic, show)
            await done.wait()

    run_tool(out, main)


class Sample(NamedTuple):
    """What hz, bw and delay need of one message."""

    received_ns: int
    stamp_ns: int
    seq: int
    publisher: str
    size: int
    trace_stamp_ns: int


async def _watch(node: Node, topic: str, window: int,
                 report: Callable[[list[Sample]], None], period: float = 1.0) -> None:
    """Collect the last ``window`` samples on TOPIC and call ``report(samples)`` every period."""
    samples: list[Sample] = []

    def on_message(raw: RawMessage) -> None:
        h = raw.header
        samples.append(Sample(time.time_ns(), h.stamp_ns, h.seq, h.publisher, len(raw.payload),
                              h.trace_stamp_ns))
        del samples[:-window]

    node.create_subscription(RawMessage, topic, on_message)
    while True:
        await asyncio.sleep(period)
        report(list(samples))


Figures = dict[str, Any]


def _watch_topic(out: Output, bus: str | None, topic: str, window: int,
                 measure: Callable[[list[Sample]], Figures | None],
                 describe: Callable[[Figures], str]) -> None:
    """Report ``measure`` of the window of samples once a second until Ctrl-C: a JSON record
    when piped, ``describe``'s text at a terminal; "waiting" while ``measure`` has nothing."""

    def report(samples: list[Sample]) -> None:
        figures = measure(samples)
        if figures is None:
            out.line("[dim]waiting for messages...[/dim]")
        elif out.json:
            out.record({"topic": topic, **figures})
        else:
            out.line(describe(figures))

    async def main() -> None:
        async with tool_node(bus, "vttopic") as node:
            await _watch(node, topic, window, report)

    run_tool(out, main)


def _drops(samples: list[Sample]) -> int:
    """Messages lost, from gaps in each publisher's sequence numbers."""
    last: dict[str, int] = {}
    lost = 0
    for sample in samples:
        previous = last.get(sample.publisher)
        if previous is not None and sample.seq > previous + 1:
            lost += sample.seq - previous - 1
        last[sample.publisher] = sample.seq
    return lost


@app.command()
def hz(
    topic: str,
    window: int = typer.Option(10_000, "--window", "-w", help="messages in the window"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Publish rate of TOPIC from the publishers' stamps; drops from sequence gaps."""

    def measure(samples: list[Sample]) -> Figures | None:
        stamps = sorted(s.stamp_ns for s in samples)
        if len(stamps) < 2:
            return None
        gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps)]
        mean = statistics.fmean(gaps)
        return {"rate_hz": 1 / mean if mean else float("inf"), "min_s": min(gaps),
                "max_s": max(gaps), "std_dev_s": statistics.pstdev(gaps),
                "window": len(stamps), "dropped": _drops(samples)}

    def describe(f: Figures) -> str:
        return (f"average rate: {f['rate_hz']:.3f}\n\tmin: {f['min_s']:.4f}s "
                f"max: {f['max_s']:.4f}s std dev: {f['std_dev_s']:.5f}s "
                f"window: {f['window']} dropped: {f['dropped']}")

    _watch_topic(Output(json_mode), bus, topic, window, measure, describe)


@app.command()
def bw(
    topic: str,
    window: int = typer.Option(1000, "--window", "-w"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Bandwidth of TOPIC (payload bytes per second)."""

    def measure(samples: list[Sample]) -> Figures | None:
        if len(samples) < 2:
            return None
        span = (samples[-1].stamp_ns - samples[0].stamp_ns) / 1e9 or 1e-9
        sizes = [s.size for s in samples]
        return {"bytes_per_s": sum(sizes[1:]) / span, "mean_bytes": statistics.fmean(sizes),
                "min_bytes": min(sizes), "max_bytes": max(sizes), "window": len(sizes)}

    def describe(f: Figures) -> str:
        return (f"{f['bytes_per_s'] / 1024:.2f} KB/s from {f['window']} messages\n"
                f"\tMessage size mean: {f['mean_bytes']:.0f} B min: {f['min_bytes']} B "
                f"max: {f['max_bytes']} B")

    _watch_topic(Output(json_mode), bus, topic, window, measure, describe)


@app.command()
def delay(
    topic: str,
    window: int = typer.Option(1000, "--window", "-w"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Delay from publishing to arrival here, and the age of each message's chain (trace)."""

    def measure(samples: list[Sample]) -> Figures | None:
        if not samples:
            return None
        hop = [(s.received_ns - s.stamp_ns) / 1e6 for s in samples]
        chain = [(s.received_ns - s.trace_stamp_ns) / 1e6 for s in samples if s.trace_stamp_ns]
        return {"delay_mean_ms": statistics.fmean(hop), "delay_min_ms": min(hop),
                "delay_max_ms": max(hop),
                "chain_age_mean_ms": statistics.fmean(chain) if chain else None,
                "window": len(hop)}

    def describe(f: Figures) -> str:
        chain_age = f["chain_age_mean_ms"]
        return (f"average delay: {f['delay_mean_ms']:.3f} ms\n\tmin: {f['delay_min_ms']:.3f} ms "
                f"max: {f['delay_max_ms']:.3f} ms window: {f['window']}"
                + (f"\n\tchain age (since the trace began): {chain_age:.1f} ms"
                   if chain_age is not None else ""))

    _watch_topic(Output(json_mode), bus, topic, window, measure, describe)


def _type_for(topic: str, graph: p.Graph, tag: str | None) -> type[Message]:
    """The message type to publish on TOPIC: --type, the catalogue, or what live nodes use."""
    if tag:
        found = type_for_tag(tag)
        if found is None:
            raise VtError(f"unknown message type {tag!r}")
        return found
    if topic in TOPICS:
        return TOPICS[topic].type
    entry = _topics(graph, True).get(topic)
    if entry and entry["type"] and (found := type_for_tag(entry["type"])) is not None:
        return found
    raise VtError(f"{topic!r} is not in the catalogue and no live node names its type: "
                  "give it with --type TAG (e.g. chat.ChatMessage)")


@app.command()
def pub(
    topic: str,
    values: str = typer.Argument("{}", help="a JSON object; omitted fields take defaults"),
    once: bool = typer.Option(False, "--once", "-1", help="publish one message and exit"),
    times: int = typer.Option(0, "--times", "-t", help="publish N messages and exit"),
    rate: float = typer.Option(1.0, "--rate", "-r", help="messages per second"),
    type_tag: str | None = typer.Option(None, "--type", help="message type tag"),
    wait: float = typer.Option(2.0, "--wait", help="seconds to wait for a subscriber first"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Publish VALUES on TOPIC (once, N times, or at --rate until Ctrl-C)."""
    out = Output(json_mode)
    limit = 1 if once else times

    async def main() -> None:
        async with tool_node(bus, "vttopic") as node:
            graph = await fetch_graph(node)
            msg_type = _type_for(topic, graph, type_tag)
            try:
                msg = msgspec.convert(json.loads(values), msg_type)
            except (json.JSONDecodeError, msgspec.ValidationError) as exc:
                raise VtError(f"{values!r} is not a valid {msg_type.__name__}: {exc}") from None
            publisher = node.create_publisher(msg_type, topic)
            # like `ros2 topic pub`: give subscribers a moment, so the first message is not lost
            await publisher.wait_for_subscribers(wait)
            sent = 0
            while not limit or sent < limit:
                publisher.publish(msg)
                sent += 1
                out.line(f"publishing #{sent}: {plain(to_plain(msg))}")
                if not limit or sent < limit:
                    await asyncio.sleep(1 / rate)
            await asyncio.sleep(0.1)  # let the last message leave before the socket closes

    run_tool(out, main)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
