"""``python -m nodes.demo.listener``: echoes every `Count` of ``demo/count`` on ``demo/echo``."""

from __future__ import annotations

from bus.node import Node, NodeOptions
from bus.run import run
from messages.base import Header
from messages.demo import Count


class ListenerNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("listener", options=options)
        self.pub = self.create_publisher(Count, "demo/echo")
        self.create_subscription(Count, "demo/count", self.on_count)

    def on_count(self, msg: Count, header: Header) -> None:
        self.pub.publish(Count(value=msg.value, source=header.publisher))


if __name__ == "__main__":
    run(ListenerNode)
