"""What is in a bag: files, sizes, time span, and per topic its type, count, rate and bytes."""

from __future__ import annotations

from pathlib import Path

import msgspec

from bus.bag.reader import BagReader

__all__ = ["BagInfo", "TopicInfo", "bag_info"]


class TopicInfo(msgspec.Struct):
    """One topic of a bag: ``rate_hz`` is count over the bag's duration."""

    topic: str
    type: str
    count: int
    rate_hz: float
    bytes: int
    latched: bool = False


class BagInfo(msgspec.Struct):
    """A bag at a glance; ``problems`` lists what is damaged (empty for a sound bag).

    Times are ``time.time_ns()`` log times (when the recorder received the messages).
    """

    path: str
    files: list[str]
    size_bytes: int
    messages: int
    start_ns: int
    end_ns: int
    duration_s: float
    topics: list[TopicInfo]
    metadata: dict[str, dict[str, str]]
    problems: list[str]


def bag_info(path: str | Path) -> BagInfo:
    """Read the whole bag (never trusting its summary, so a damaged bag is described as it is)."""
    reader = BagReader(path)
    counts: dict[tuple[str, str], list[int]] = {}
    start, end, total = 0, 0, 0
    for record in reader.records():
        channel = record.channel
        key = (channel.topic, channel.metadata.get("type", ""))
        entry = counts.get(key)
        if entry is None:
            entry = counts[key] = [0, 0]
        entry[0] += 1
        entry[1] += len(record.data)
        if total == 0 or record.log_time < start:
            start = record.log_time
        end = max(end, record.log_time)
        total += 1
    duration = (end - start) / 1e9 if total else 0.0
    topics = [
        TopicInfo(topic, tag, count, count / duration if duration > 0 else 0.0, size,
                  reader.latched(topic))
        for (topic, tag), (count, size) in sorted(counts.items())
    ]
    return BagInfo(
        path=str(path), files=[str(f) for f in reader.files],
        size_bytes=sum(f.stat().st_size for f in reader.files), messages=total,
        start_ns=start, end_ns=end, duration_s=duration, topics=topics,
        metadata=reader.metadata, problems=list(reader.problems),
    )
