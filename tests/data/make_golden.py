"""Record a golden bag: one message of every type in the catalogue, sent on a real bus.

    python tests/data/make_golden.py [--out tests/data/golden/NAME.mcap]

Starts a vtbus, a recorder and a real publishing node, publishes a representative message of
every type in `messages.catalog.message_types` (every field set to a value other than its
default, so a field that changes type or meaning fails to decode) on its catalogue topic (or
``golden/<tag>`` for types no topic carries), plus a short traced chain (chat message ->
relay node -> sentence), and records it all.

Golden bags are never rewritten: each run adds a new file, so the old ones keep proving that
old recordings decode. Run it when you add a message type (`tests/unit/test_bag_golden.py`
says so), and commit the new file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import msgspec.inspect as mi

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bus.bag import Recorder, read_messages, recording_metadata  # noqa: E402
from bus.node import Node, NodeOptions  # noqa: E402
from bus.testing import BusProcess  # noqa: E402
from messages.base import Message  # noqa: E402
from messages.catalog import TOPICS, message_types  # noqa: E402
from messages.chat import ChatMessage  # noqa: E402
from messages.llm import Sentence  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden"


def sample_value(kind: mi.Type, name: str, default: Any = mi.NODEFAULT) -> Any:
    """A value of ``kind`` that differs from ``default`` where the type allows."""
    if isinstance(kind, mi.StructType):
        return sample(kind.cls)
    if isinstance(kind, mi.StrType):
        return f"{name}-golden"
    if isinstance(kind, mi.BoolType):
        return default is not True
    if isinstance(kind, mi.IntType):
        return 1_700_000_000_123_456_789 if name.endswith("_ns") else 7
    if isinstance(kind, mi.FloatType):
        return 0.625
    if isinstance(kind, mi.BytesType):
        return bytes(range(16))
    if isinstance(kind, mi.LiteralType):
        others = [v for v in kind.values if v != default]
        return (others or list(kind.values))[0]
    if isinstance(kind, mi.ListType):
        return [sample_value(kind.item_type, name)]
    if isinstance(kind, mi.DictType):
        return {"key": sample_value(kind.value_type, f"{name}.key")}
    if isinstance(kind, mi.UnionType):
        for option in kind.types:
            if not isinstance(option, mi.NoneType):
                return sample_value(option, name, default)
    if isinstance(kind, mi.AnyType):
        return {"nested": [1, "two", 3.5, None, True]}
    raise TypeError(f"make_golden cannot build a sample of {kind} (field {name}): add it here")


def sample(cls: type[Message]) -> Message:
    """A message of ``cls`` with every field set away from its default."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    values = {f.name: sample_value(f.type, f.name, f.default) for f in info.fields}
    return cls(**values)


def topic_for(tag: str, cls: type[Message]) -> str:
    for topic, known in TOPICS.items():
        if known.type is cls:
            return topic
    return f"golden/{tag}"


class Relay(Node):
    """Turns each chat message into a sentence, inside the callback: the trace carries over."""

    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("golden_relay", options=options)
        self.out = self.create_publisher(Sentence, "llm/sentence")
        self.create_subscription(ChatMessage, "chat/message", self.on_chat)

    def on_chat(self, msg: ChatMessage) -> None:
        self.out.publish(Sentence(request_id=msg.id, persona="aria", index=0,
                                  text=f"You said {msg.text}", final=True))


async def record(out: Path) -> int:
    with BusProcess() as bus:
        relay = Relay(options=NodeOptions(bus=bus.url))
        source = Node("golden_source", options=NodeOptions(bus=bus.url))
        await relay.start()
        await source.start()
        async with Recorder(out, bus=bus.url, exclude="^system/",
                            metadata=recording_metadata(command=["tests/data/make_golden.py"],
                                                        bus="(a temporary bus)"),
                            ) as recorder:
            await asyncio.sleep(0.3)
            sent = 0
            for tag, cls in sorted(message_types().items()):
                topic = topic_for(tag, cls)
                if topic in ("llm/sentence", "system/log"):
                    # llm/sentence is for the relay's answers; system/log is not recorded (it
                    # would catch real warnings)
                    topic = f"golden/{tag}"
                source.create_publisher(cls, topic).publish(sample(cls))
                sent += 2 if topic == "chat/message" else 1  # the relay answers chat
            chat = source.create_publisher(ChatMessage, "chat/message")
            for i in range(3):
                chat.publish(ChatMessage(platform="console", user="viewer", text=f"hello {i}",
                                         id=f"chat-{i}"))
                sent += 2
                await asyncio.sleep(0.02)
            await recorder.wait_for(sent)
        await source.close()
        await relay.close()
    return sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=GOLDEN / time.strftime("all_types_%Y%m%d.mcap"))
    args = parser.parse_args(argv)
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: golden bags are never rewritten; pick a new name")
    sent = asyncio.run(record(args.out))
    count = sum(1 for _ in read_messages(args.out))
    print(f"{args.out}: {count} messages ({sent} sent), {args.out.stat().st_size} bytes")
    if count != sent:
        raise SystemExit(f"recorded {count} of {sent} messages")


if __name__ == "__main__":
    main()
