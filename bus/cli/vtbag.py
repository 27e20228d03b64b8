"""``vtbag``: record, play, inspect and convert bags (MCAP files), like ``ros2 bag``.

    vtbag record [-a | TOPIC... | -e REGEX] [-x REGEX] [-o PATH] [--split-size BYTES]
                 [--split-duration S] [--compression zstd|lz4|none]
    vtbag play BAG [--rate R] [--loop] [--topics T...] [--remap A:=B] [--start-offset S] [--fast]
    vtbag info BAG
    vtbag convert BAG --to json -o OUT

Exit status: 0 done, 1 the bag is damaged or could not be written (what was intact was still
read, and the error says what is wrong), 2 bad command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from bus.address import resolve
from bus.bag.convert import convert_to_json
from bus.bag.info import BagInfo, bag_info
from bus.bag.player import Player
from bus.bag.reader import bag_files
from bus.bag.recorder import Recorder, recording_metadata
from bus.cli.output import Output, plain
from bus.errors import BagError, VtError
from bus.params import parse_assignment

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vtbag", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", default=None,
                        help="JSON lines on stdout (the default when piped)")
    commands = parser.add_subparsers(dest="command", required=True)

    record = commands.add_parser("record", help="record topics into a bag")
    record.add_argument("topics", nargs="*", metavar="TOPIC", help="exact topics to record")
    record.add_argument("-a", "--all", action="store_true", help="every topic (the default)")
    record.add_argument("-e", "--regex", help="only topics matching this regular expression")
    record.add_argument("-x", "--exclude", help="leave out topics matching this expression")
    record.add_argument("-o", "--output", help="the .mcap file (default: bag_DATE_TIME.mcap)")
    record.add_argument("--split-size", type=int, default=0, metavar="BYTES",
                        help="start a new file every BYTES")
    record.add_argument("--split-duration", type=float, default=0.0, metavar="S",
                        help="start a new file every S seconds")
    record.add_argument("--compression", choices=("zstd", "lz4", "none"), default="zstd")
    record.add_argument("--launch", help="launch file to store in the bag "
                                         "(default: $VT_LAUNCH_FILE)")
    record.add_argument("--bus", help="ipc://FOLDER or tcp://HOST:PORT (default: $VT_BUS)")

    play = commands.add_parser("play", help="publish a bag's messages on the bus")
    play.add_argument("bag")
    play.add_argument("--rate", type=float, default=1.0, help="speed factor")
    play.add_argument("--loop", action="store_true", help="start again at the end")
    play.add_argument("--topics", nargs="+", default=[], metavar="TOPIC", help="only these")
    play.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                      help="publish FROM's messages on TO")
    play.add_argument("--start-offset", type=float, default=0.0, metavar="S",
                      help="skip the first S seconds")
    play.add_argument("--fast", action="store_true",
                      help="no timing: every message in order, as fast as possible")
    play.add_argument("--bus", help="ipc://FOLDER or tcp://HOST:PORT (default: $VT_BUS)")

    info = commands.add_parser("info", help="what a bag holds")
    info.add_argument("bag")

    convert = commands.add_parser("convert", help="a copy that Foxglove/Lichtblick open")
    convert.add_argument("bag")
    convert.add_argument("--to", choices=("json",), required=True)
    convert.add_argument("-o", "--output", required=True, help="the .mcap file to write")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    out = Output(args.json)
    try:
        status = _COMMANDS[args.command](args, out)
    except (VtError, ValueError, TimeoutError) as exc:
        out.error(str(exc))
        status = 1
    except KeyboardInterrupt:
        status = 130
    raise SystemExit(status)


# ---------------------------------------------------------------------- record


def _record(args: argparse.Namespace, out: Output) -> int:
    if args.all and (args.topics or args.regex):
        raise ValueError("-a records every topic: give either -a or topics/-e, not both")
    path = Path(args.output or time.strftime("bag_%Y%m%d_%H%M%S.mcap"))
    if path.suffix != ".mcap":
        path = path.with_name(path.name + ".mcap")
    return asyncio.run(_record_async(args, path, out))


async def _record_async(args: argparse.Namespace, path: Path, out: Output) -> int:
    recorder = Recorder(
        path, bus=args.bus, topics=args.topics, include=args.regex, exclude=args.exclude,
        compression=args.compression, split_size=args.split_size,
        split_duration_s=args.split_duration,
        metadata=recording_metadata(launch_file=args.launch, command=["vtbag", *sys.argv[1:]],
                                    bus=resolve(args.bus).url),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, recorder.shutdown)
    try:
        await recorder.start()
        out.err.print(f"recording to {path} from {recorder.address.url} (Ctrl-C to stop)")
        stopped = asyncio.ensure_future(recorder.spin())
        failed = asyncio.ensure_future(recorder.failed.wait())
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, failed):
            task.cancel()
    finally:
        await recorder.close()
    out.record({"recorded": [str(p) for p in recorder.paths], "messages": recorder.count,
                "lost": recorder.lost})
    if recorder.writer.error is not None:
        out.error(str(recorder.writer.error))
        return 1
    return 0


# ---------------------------------------------------------------------- play


def _play(args: argparse.Namespace, out: Output) -> int:
    remaps = {}
    for text in args.remap:
        source, target = parse_assignment(text, what="remap")
        remaps[source] = str(target)
    return asyncio.run(_play_async(args, remaps, out))


async def _play_async(args: argparse.Namespace, remaps: dict[str, str], out: Output) -> int:
    player = Player(args.bag, bus=args.bus, rate=args.rate, fast=args.fast, loop=args.loop,
                    topics=args.topics, remaps=remaps, start_offset_s=args.start_offset)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, player.shutdown)
    try:
        await player.start()  # so shutdown() from a signal is seen from the first message
        result = await player.play()
    finally:
        await player.close()
    out.record({"played": args.bag, "messages": result.published})
    for problem in result.problems:
        out.error(problem)
    return 1 if result.problems else 0


# ---------------------------------------------------------------------- info


def _info(args: argparse.Namespace, out: Output) -> int:
    info = bag_info(args.bag)
    if out.json:
        out.record(info)
    else:
        _print_info(info, out)
    for problem in info.problems:
        out.error(problem)
    return 1 if info.problems else 0


def _print_info(info: BagInfo, out: Output) -> None:
    def when(ns: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9)) + f".{ns % 10**9:09d}"

    out.line(f"[bold]Files:[/bold]     {plain(', '.join(info.files))}")
    out.line(f"[bold]Size:[/bold]      {_size(info.size_bytes)}")
    out.line(f"[bold]Duration:[/bold]  {info.duration_s:.3f} s")
    if info.messages:
        out.line(f"[bold]Start:[/bold]     {when(info.start_ns)}")
        out.line(f"[bold]End:[/bold]       {when(info.end_ns)}")
    out.line(f"[bold]Messages:[/bold]  {info.messages}")
    for name, values in info.metadata.items():
        for key in ("git_revision", "launch_file", "command"):
            if key in values:
                out.line(f"[bold]{plain(name)}.{key}:[/bold] {plain(values[key])}")
    out.table(
        ("topic", "type", "count", "rate (Hz)", "size", "latched"),
        [(t.topic, t.type, t.count, f"{t.rate_hz:.2f}", _size(t.bytes), "yes" if t.latched else "")
         for t in info.topics],
    )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


# ---------------------------------------------------------------------- convert


def _convert(args: argparse.Namespace, out: Output) -> int:
    if Path(args.output).resolve() in {p.resolve() for p in _existing(args.bag)}:
        raise BagError(f"{args.output}: refusing to overwrite the bag being converted")
    count, problems = convert_to_json(args.bag, args.output)
    out.record({"converted": args.bag, "to": args.output, "encoding": "json", "messages": count})
    for problem in problems:
        out.error(problem)
    return 1 if problems else 0


def _existing(bag: str) -> list[Path]:
    with contextlib.suppress(BagError):
        return bag_files(bag)
    return []


_COMMANDS = {"record": _record, "play": _play, "info": _info, "convert": _convert}


if __name__ == "__main__":
    main()
