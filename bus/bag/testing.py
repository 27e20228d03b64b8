"""Replaying a bag into running nodes and collecting what they publish, for tests.

Example
-------
>>> start_node("nodes.director")
>>> result = await replay("tests/data/show.mcap", bus_url, into=["director"],
...                       collect=["director/turn", "llm/request"])
>>> [t.speaker for t in result.messages("director/turn")]
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus.bag.player import Player, PlayResult
from bus.testing import Probe
from messages.base import Header
from messages.catalog import TOPICS

__all__ = ["Replay", "replay"]


@dataclass
class Replay:
    """What a replay played and what came back.

    Attributes
    ----------
    played:
        The player's result (messages sent, problems with the bag).
    received:
        Topic -> ``(header, message)`` in arrival order, typed from the catalogue (a topic not
        in the catalogue comes as `bus.node.RawMessage`).
    """

    played: PlayResult
    received: dict[str, list[tuple[Header, Any]]] = field(default_factory=dict)

    def messages(self, topic: str) -> list[Any]:
        """What arrived on ``topic``, in order."""
        return [msg for _, msg in self.received.get(topic, [])]


async def replay(
    path: str | Path,
    bus_url: str,
    *,
    collect: Iterable[str],
    into: Sequence[str] = (),
    fast: bool = True,
    rate: float = 1.0,
    topics: Sequence[str] = (),
    remaps: Mapping[str, str] | None = None,
    quiet_s: float = 0.5,
    timeout: float = 30.0,
) -> Replay:
    """Play the bag at ``path`` on the bus and collect ``collect`` topics until they go quiet.

    Parameters
    ----------
    collect:
        Topics to collect (what the nodes under test publish).
    into:
        Names of nodes to wait for (joined the bus) before playing.
    quiet_s:
        Done once nothing new arrived for this long after the last message was played.
    timeout:
        Longest wait for the nodes, and for the outputs to go quiet.
    """
    async with Probe(bus_url, name="_bag_replay") as probe:
        wanted = list(collect)
        for topic in wanted:
            if topic in TOPICS:
                probe.collect(topic)
            else:
                probe.collect_raw(topic, prefix=False)
        for name in into:
            await probe.wait_for_node(name, timeout=timeout)
        player = Player(path, bus=bus_url, fast=fast, rate=rate, topics=topics, remaps=remaps)
        try:
            played = await player.play()
        finally:
            await player.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = -1
        while loop.time() < deadline:
            now = sum(len(probe.received[t]) for t in wanted)
            if now == seen:
                break
            seen = now
            await asyncio.sleep(quiet_s)
        return Replay(played, {t: list(probe.received[t]) for t in wanted})
