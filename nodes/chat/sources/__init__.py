"""Where chat comes from: one module per source kind, all shaped like `ChatSource`.

Sources (``SOURCES.load(kind, settings, hooks)``):

- ``console``: one stdin line is one message.
- ``twitch``: IRC over TLS or WebSocket, replies within the send limits.
- ``youtube``: Data API polling within the daily quota, replies with OAuth.

A source is one file: a class with a ``Settings`` Struct (frozen, unknown fields refused)
taking ``(settings, hooks)``, where `SourceHooks` is what the node gives it. Adding a kind
is that file plus its line in `SOURCES`; the node builds whatever its ``sources`` parameter
lists, each from `settings_table`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Protocol

import msgspec

from bus.errors import ParameterError
from bus.plugins import Registry
from messages.chat import ChatMessage
from nodes.chat.credentials import Secrets
from nodes.chat.removal import Removal

__all__ = [
    "SOURCES",
    "AtLeastOne",
    "ChatSource",
    "NotNegative",
    "Positive",
    "SourceHooks",
    "settings_table",
    "source_kinds",
]

# constrained field types for the sources' Settings (refused when a table breaks them)
Positive = Annotated[float, msgspec.Meta(gt=0)]
NotNegative = Annotated[float, msgspec.Meta(ge=0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]


def _ignore(removal: Removal) -> None:
    """A source without moderation events never calls it."""


@dataclass
class SourceHooks:
    """What a source is given by the node it runs in.

    Attributes
    ----------
    on_message, on_removal:
        Called (in the event loop) for each chat event and each moderator removal.
    counts:
        Where the source counts what happens (``twitch_connects``, ``youtube_polls``...);
        the node's ``counters``, shown by ``vtnode info``.
    log:
        Where it logs (the node's logger: redacted, published on ``system/log``).
    secrets:
        Reads its tokens and keys (environment or file) and registers them for redaction.
    """

    on_message: Callable[[ChatMessage], None]
    on_removal: Callable[[Removal], None] = _ignore
    counts: Counter[str] = field(default_factory=Counter)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("chat"))
    secrets: Secrets = field(default_factory=Secrets)


class ChatSource(Protocol):
    """A platform connection: `run` delivers events through the hooks it was built with."""

    Settings: ClassVar[type[msgspec.Struct]]
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


SOURCES = Registry[ChatSource]("chat source", {
    "console": "nodes.chat.sources.console:ConsoleSource",
    "twitch": "nodes.chat.sources.twitch:TwitchSource",
    "youtube": "nodes.chat.sources.youtube:YouTubeSource",
})


def source_kinds(text: str) -> list[str]:
    """The kinds a ``sources`` parameter lists (``"twitch, youtube"``), each known.

    Raises
    ------
    ParameterError
        A kind `SOURCES` does not have; the message lists the known ones.
    """
    kinds = [name.strip() for name in text.split(",") if name.strip()]
    for kind in kinds:
        if kind not in SOURCES:
            raise ParameterError(f"chat node: unknown source {kind!r}; known: "
                                 f"{', '.join(SOURCES.kinds())}")
    return kinds


def settings_table(kind: str, parameters: Mapping[str, Any],
                   tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The settings of source ``kind`` as the node's parameters give them: each
    ``<kind>_<field>`` parameter that names a field of the kind's ``Settings``
    (``twitch_channel`` -> ``channel``), with ``tables[kind]`` (``source_settings``) over
    them."""
    fields = SOURCES.plugin_class(kind).Settings.__struct_fields__
    prefix = f"{kind}_"
    flat = {name.removeprefix(prefix): value for name, value in parameters.items()
            if name.startswith(prefix) and name.removeprefix(prefix) in fields}
    return {**flat, **tables.get(kind, {})}
