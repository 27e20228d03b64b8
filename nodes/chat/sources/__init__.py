"""Where chat comes from: one module per platform, all shaped like `ChatSource`."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ChatSource"]


class ChatSource(Protocol):
    """A platform connection: `run` delivers events through the callbacks it was built with."""

    platform: str

    @property
    def can_send(self) -> bool: ...

    async def run(self) -> None:
        """Deliver events until the platform ends or the task is cancelled."""
        ...

    async def say(self, text: str, *, reply_to: str = "") -> bool:
        """Post ``text`` (as a reply to message ``reply_to`` where the platform threads
        replies); False when it was refused or dropped."""
        ...

    async def close(self) -> None: ...
