"""Publishes a counter on ``demo/count`` (and latched on ``demo/latest``) at ``rate_hz``.

With ``load_s`` it first spends that long "loading", as a node with a model does: it is on the
bus but not ready (`Node.set_loading`), so vtlaunch's "all N programs up" waits for it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from bus.node import Node, NodeOptions
from bus.params import Parameters, at_start, live
from bus.run import run
from messages.demo import Count


class Params(Parameters):
    rate_hz: Annotated[float, live("messages per second", gt=0)] = 10.0
    text: Annotated[str, live("what each message says (before its padding)")] = ""
    size: Annotated[int, live("pad each message's text with x to this many bytes", ge=0)] = 0
    load_s: Annotated[float, at_start(
        "seconds spent loading before the first message (on the bus, not yet ready)",
        ge=0)] = 0.0


class Talker(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("talker", options=options)
        self.params = self.declare_parameters(Params)
        self.count_pub = self.create_publisher(Count, "demo/count")
        self.latest_pub = self.create_publisher(Count, "demo/latest")
        self.value = 0
        self.timer = self.create_timer(1.0 / self.params.rate_hz, self.tick)
        self.add_on_set_parameters_callback(self.on_set)
        if self.params.load_s:
            self.set_loading("a pretend model")

    async def on_start(self) -> None:
        if self.params.load_s:
            self.timer.cancel()
            self.create_task(self._load(), "load")

    async def _load(self) -> None:
        await asyncio.sleep(self.params.load_s)
        self.log.info("loaded after %.1f s", self.params.load_s)
        self.set_loading("")
        self.timer.start()

    def on_set(self, changes: dict[str, Any]) -> None:
        if "rate_hz" in changes:
            self.timer.set_period(1.0 / changes["rate_hz"])

    def tick(self) -> None:
        msg = Count(value=self.value, text=self.params.text.ljust(self.params.size, "x"))
        self.count_pub.publish(msg)
        self.latest_pub.publish(msg)
        self.value += 1


if __name__ == "__main__":
    run(Talker)
