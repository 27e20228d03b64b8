"""Publishes a counter on ``demo/count`` (and latched on ``demo/latest``) at ``rate_hz``."""

from __future__ import annotations

from bus.node import Node, NodeOptions
from bus.run import run
from messages.demo import Count


class Talker(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("talker", options=options)
        rate = self.declare_parameter("rate_hz", 10.0, "messages per second")
        self.size = self.declare_parameter("size", 0, "pad each message's text to this many bytes")
        self.count_pub = self.create_publisher(Count, "demo/count")
        self.latest_pub = self.create_publisher(Count, "demo/latest")
        self.value = 0
        self.create_timer(1.0 / rate, self.tick)

    def tick(self) -> None:
        msg = Count(value=self.value, text="x" * self.size)
        self.count_pub.publish(msg)
        self.latest_pub.publish(msg)
        self.value += 1


if __name__ == "__main__":
    run(Talker)
