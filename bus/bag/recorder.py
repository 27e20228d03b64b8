"""Recording: a hidden node that writes what it hears on the bus into a bag.

It subscribes to every topic (prefix ``""``), so a topic that appears after the start is
recorded too, and filters by name in its callback. Each message is stored exactly as it came
off the wire (`RawMessage.raw_header` and the payload bytes). Latched topics of the catalogue
are also asked of the registry, so a recording started mid-show still holds the current
persona and turn.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bus.address import LAUNCH_FILE_NOTE, resolve
from bus.bag.writer import DEFAULT_CHUNK_SIZE, BagWriter, Compression
from bus.errors import BagError, VtError
from bus.node import LATE_LATCH_RECHECK_S, Node, NodeOptions, RawMessage
from messages.catalog import TOPICS

__all__ = ["Recorder", "TopicFilter", "recording_metadata", "wait_joined"]

_REPO = Path(__file__).resolve().parents[2]


class TopicFilter:
    """Which topics to record: listed ones, or all (optionally matching ``include``), minus
    those matching ``exclude`` (regular expressions, searched anywhere in the name)."""

    def __init__(self, topics: Sequence[str] = (), include: str | None = None,
                 exclude: str | None = None):
        self.topics = frozenset(topics)
        try:
            self.include = re.compile(include) if include else None
            self.exclude = re.compile(exclude) if exclude else None
        except re.error as exc:
            raise ValueError(f"bad topic regular expression {exc.pattern!r}: {exc}") from exc

    def __call__(self, topic: str) -> bool:
        if self.topics and topic not in self.topics:
            return False
        if self.include is not None and not self.include.search(topic):
            return False
        return not (self.exclude is not None and self.exclude.search(topic))


def _launch_file_of(bus: str) -> str | None:
    """The launch file of the show running on ``bus``: vtlaunch notes it in the run folder."""
    if not bus:
        return None
    try:
        folder = resolve(bus).folder
    except VtError:
        return None
    note = folder / LAUNCH_FILE_NOTE if folder is not None else None
    return note.read_text().strip() if note is not None and note.exists() else None


def recording_metadata(
    *, launch_file: str | Path | None = None, command: Sequence[str] | None = None,
    bus: str = "",
) -> dict[str, str]:
    """What a bag keeps about how it was made: the git revision, the launch file (its path
    and text; ``VT_LAUNCH_FILE`` when not given), the command line and the bus."""
    try:
        revision = subprocess.run(
            ["git", "-C", str(_REPO), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        revision = "unknown"
    metadata = {
        "git_revision": revision,
        "command": " ".join(command if command is not None else sys.argv),
        "bus": bus,
        "recorded_at_ns": str(time.time_ns()),
    }
    launch = launch_file or os.environ.get("VT_LAUNCH_FILE") or _launch_file_of(bus)
    if launch:
        metadata["launch_file"] = str(launch)
        try:
            metadata["launch_file_text"] = Path(launch).read_text()
        except OSError as exc:
            metadata["launch_file_text"] = f"(unreadable: {exc.strerror})"
    return metadata


class Recorder(Node):
    """Record bus topics into a bag; usable inside a test.

    Example
    -------
    >>> async with Recorder("show.mcap", bus=bus_url) as recorder:
    ...     ...  # run the show
    ...     await recorder.wait_for(10)
    >>> list(read_messages("show.mcap"))

    Parameters
    ----------
    path:
        The bag to write (see `BagWriter` for split names).
    bus:
        The bus URL (or ``options.bus``).
    topics, include, exclude:
        See `TopicFilter`; nothing given records every topic.
    compression, chunk_size, split_size, split_duration_s:
        See `BagWriter`.
    metadata:
        Written into the bag (default: `recording_metadata`).
    flush_s:
        Write the chunk in progress at least this often, so a killed recorder loses little.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        bus: str | None = None,
        topics: Sequence[str] = (),
        include: str | None = None,
        exclude: str | None = None,
        compression: Compression = "zstd",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        split_size: int = 0,
        split_duration_s: float = 0.0,
        metadata: Mapping[str, str] | None = None,
        flush_s: float = 1.0,
        name: str = "vtbag_record",
        options: NodeOptions | None = None,
    ):
        super().__init__(name, options=options or NodeOptions(bus=bus, hidden=True))
        self.wanted = TopicFilter(topics, include, exclude)
        self.writer = BagWriter(
            path, compression=compression, chunk_size=chunk_size, split_size=split_size,
            split_duration_s=split_duration_s,
            metadata=metadata if metadata is not None else recording_metadata(
                bus=self.address.url),
        )
        self.failed = asyncio.Event()
        """Set when the bag could not be written (``writer.error`` says why)."""
        self.gaps = 0
        """Messages missing from the recorded topics' sequence numbers."""
        self._keep: dict[str, bool] = {}
        self._recorded_seq: dict[tuple[str, str], int] = {}
        if topics:
            for topic in topics:
                self.create_subscription(RawMessage, topic, self._on_message)
        else:
            self.create_subscription(RawMessage, "", self._on_message, prefix=True)
            for topic, known in TOPICS.items():
                if known.latched and self.wanted(topic):
                    # only to fetch the registry's value: the "" subscription records it
                    self.create_subscription(RawMessage, topic, _ignore, latched=True)
        self.create_timer(flush_s, self._flush)

    @property
    def paths(self) -> list[Path]:
        """The files written so far."""
        return self.writer.paths

    @property
    def count(self) -> int:
        """Messages recorded so far."""
        return self.writer.message_count

    @property
    def lost(self) -> int:
        """Messages missed on the recorded topics: gaps in their publishers' sequence numbers
        (lost before they reached the recorder) plus those refused by a full disk."""
        return self.gaps + self.writer.dropped

    def _flush(self) -> None:
        try:
            self.writer.flush()
        except BagError as exc:
            self.log.error("%s", exc)
            self.failed.set()

    def _on_message(self, message: RawMessage) -> None:
        keep = self._keep.get(message.topic)
        if keep is None:
            keep = self._keep[message.topic] = self.wanted(message.topic)
        if not keep:
            return
        header = message.header
        key = (message.topic, header.publisher)
        last = self._recorded_seq.get(key)
        if last is not None and header.seq > last + 1:  # (a restarted publisher starts at 0)
            self.gaps += header.seq - last - 1
        self._recorded_seq[key] = header.seq
        try:
            self.writer.write(message.topic, header, message.raw_header, message.payload,
                              time.time_ns())
        except BagError as exc:
            self.log.error("%s", exc)
            self.failed.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` messages are recorded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.count < count:
            if loop.time() > deadline:
                raise TimeoutError(f"recorded {self.count} of {count} messages in {timeout} s")
            await asyncio.sleep(0.01)

    async def settle(self, quiet_s: float = 0.1, timeout: float = 10.0) -> None:
        """Wait until nothing new arrived for ``quiet_s`` (what was sent has been recorded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = -1
        while seen != self.count + self.writer.dropped and loop.time() < deadline:
            seen = self.count + self.writer.dropped
            await asyncio.sleep(quiet_s)

    async def on_shutdown(self) -> None:
        try:
            self.writer.close()
        except BagError as exc:
            self.log.error("%s", exc)
            self.failed.set()

    async def __aenter__(self) -> Recorder:
        await self.start()
        await wait_joined(self)
        # the subscription travels to the publishers separately, and the registry's latched
        # values come on the node's second ask
        await asyncio.sleep(LATE_LATCH_RECHECK_S + 0.1)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.settle()
        await self.close()


async def wait_joined(node: Node, timeout: float = 10.0) -> None:
    """Wait until ``node`` is connected to vtbus (its registry answers).

    Raises
    ------
    TimeoutError
        No vtbus answered: the message names the bus.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:  # a request sent before the socket connected is lost: ask again
            await node.graph(timeout=0.3)
            return
        except TimeoutError:
            continue
    raise TimeoutError(f"no vtbus answered on {node.address.url} within {timeout} s: "
                       "is it running?")


def _ignore(message: RawMessage) -> None:
    """Callback of the latched-topic subscriptions (the prefix subscription records)."""
