"""``python -m nodes.demo.talker``: publishes a `Count` on ``demo/count`` every ``period_s``."""

from __future__ import annotations

from bus.node import Node, NodeOptions
from bus.run import run
from messages.demo import Count


class TalkerNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("talker", options=options)
        period_s = self.declare_parameter("period_s", 0.05, "seconds between ticks")
        self.pub = self.create_publisher(Count, "demo/count")
        self.value = 0
        self.create_timer(period_s, self.tick)

    def tick(self) -> None:
        self.pub.publish(Count(value=self.value))
        self.value += 1


if __name__ == "__main__":
    run(TalkerNode)
