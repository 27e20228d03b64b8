"""A node's warnings and errors on ``system/log``, including those logged before it was on the
bus (while loading a model, say): they are held until it is, since a message published
before the connection is up is lost (every socket sets ``IMMEDIATE``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bus.handles import Publisher
from messages.system import LogEvent

__all__ = ["HELD_LOGS", "BusLogHandler"]

HELD_LOGS = 50
"""Events held before the node is on the bus; the oldest go first past this."""


class BusLogHandler(logging.Handler):
    """Publishes a node's records of level WARNING and up as `LogEvent` (CRITICAL as
    ``fatal``), holding them until `publish_held` while the node is not on the bus yet.

    Parameters
    ----------
    node:
        The node's name, the events' ``node``.
    publisher:
        The node's ``system/log`` publisher.
    closed:
        Whether the node has closed (nothing is published after).
    """

    def __init__(self, node: str, publisher: Publisher[LogEvent], closed: Callable[[], bool]):
        super().__init__(logging.WARNING)
        self.node = node
        self.publisher = publisher
        self.closed = closed
        self.held: list[LogEvent] | None = []
        """Events logged before `publish_held`; None after."""
        self._inside = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._inside or self.closed():
            return
        self._inside = True  # a failure to publish must not log (and publish) again
        try:
            level = "fatal" if record.levelno >= logging.CRITICAL else record.levelname.lower()
            event = LogEvent(node=self.node, level=level,  # type: ignore[arg-type]
                             message=record.getMessage(), logger=record.name)
            if self.held is not None:  # not on the bus yet: it would be lost
                self.held.append(event)
                del self.held[:-HELD_LOGS]
            else:
                self.publisher.publish(event)
        except Exception:
            pass
        finally:
            self._inside = False

    def publish_held(self) -> None:
        """Publish what was held, and every event from now on as it comes."""
        held, self.held = self.held, None
        for event in held or ():
            self.publisher.publish(event)
