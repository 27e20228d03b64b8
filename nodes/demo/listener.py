"""Repeats what it hears on ``demo/count`` to ``demo/heard``, and serves ``demo/add``."""

from __future__ import annotations

import asyncio

from bus.node import Node, NodeOptions
from bus.run import run
from messages.demo import AddRequest, AddResponse, AddTwoInts, Count


class Listener(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("listener", options=options)
        self.slow_s = self.declare_parameter("slow_s", 0.0, "sleep this long per message")
        self.heard_pub = self.create_publisher(Count, "demo/heard")
        callback = self.on_count_slowly if self.slow_s > 0 else self.on_count
        self.create_subscription(Count, "demo/count", callback)
        self.create_service(AddTwoInts, "demo/add", self.add)

    def on_count(self, msg: Count) -> None:
        self.heard_pub.publish(msg)

    async def on_count_slowly(self, msg: Count) -> None:
        await asyncio.sleep(self.slow_s)
        self.heard_pub.publish(msg)

    async def add(self, request: AddRequest) -> AddResponse:
        if request.delay_s:
            await asyncio.sleep(request.delay_s)
        return AddResponse(sum=request.a + request.b)


if __name__ == "__main__":
    run(Listener)
