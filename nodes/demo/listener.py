"""Repeats what it hears on ``demo/count`` to ``demo/heard``, and serves ``demo/add``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from bus.node import Node, NodeOptions
from bus.params import Parameters, live
from bus.run import run
from bus.worker import WorkQueue
from messages.demo import AddRequest, AddResponse, AddTwoInts, Count


class Params(Parameters):
    slow_s: Annotated[float, live("sleep this long per message", ge=0)] = 0.0


class Listener(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("listener", options=options)
        self.params = self.declare_parameters(Params)
        self.heard_pub = self.create_publisher(Count, "demo/heard")
        # slowed, messages wait their turn here (the oldest dropped beyond 1000, as a slow
        # subscription's queue does); at full speed they are repeated in the callback itself
        self.slow = WorkQueue(self, self.repeat_slowly, name="slow", maxlen=1000)
        self.create_subscription(Count, "demo/count", self.on_count)
        self.create_service(AddTwoInts, "demo/add", self.add)

    async def on_start(self) -> None:
        self.slow.start()

    def on_count(self, msg: Count) -> None:
        if self.params.slow_s > 0 or len(self.slow):
            self.slow.put(msg)
        else:
            self.heard_pub.publish(msg)

    async def repeat_slowly(self, msg: Count) -> None:
        await asyncio.sleep(self.params.slow_s)
        self.heard_pub.publish(msg)

    async def add(self, request: AddRequest) -> AddResponse:
        if request.delay_s:
            await asyncio.sleep(request.delay_s)
        return AddResponse(sum=request.a + request.b)


if __name__ == "__main__":
    run(Listener)
