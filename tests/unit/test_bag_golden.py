"""Golden bags: recordings made by earlier builds must still decode with today's message types.

A failure here means a change to `messages/` broke old recordings (a field changed type, a
required field was added, a tag was renamed): see messages/README.md for the evolution rules.
A new message type is not in any golden bag yet: record one with
``python tests/data/make_golden.py`` and commit it (golden bags are never rewritten).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from bus.bag import BagReader
from messages.catalog import message_types

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "data" / "golden").glob("*.mcap"))


def test_there_are_golden_bags() -> None:
    assert GOLDEN, "tests/data/golden/ is empty: run python tests/data/make_golden.py"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])  # every golden bag
class TestGoldenBag:
    def test_every_message_decodes_with_the_current_types(self, path: Path) -> None:
        reader = BagReader(path)
        failures = [f"{m.topic} ({m.header.type}): {m.decode_error}"
                    for m in reader.messages() if not m.typed]
        assert reader.problems == []
        assert failures == [], f"{path.name} no longer decodes:\n" + "\n".join(failures)

    def test_decoded_values_are_the_recorded_values(self, path: Path) -> None:
        # a field whose type changed compatibly (int -> float) still decodes: compare values;
        # fields added since (with defaults) may appear, at any depth
        for message in BagReader(path).messages():
            recorded = msgspec.msgpack.decode(message.payload)
            now = msgspec.to_builtins(message.msg, builtin_types=(bytes,))
            assert _differences(recorded, now) == [], message.topic

    def test_traces_survived_the_relay(self, path: Path) -> None:
        messages = list(BagReader(path).messages())
        chats = {m.msg.id: m.header for m in messages if m.topic == "chat/message"}
        replies = [m for m in messages if m.topic == "llm/sentence"]
        assert replies
        for reply in replies:
            assert reply.header.trace_id == chats[reply.msg.request_id].trace_id


def _differences(recorded: object, now: object, where: str = "$") -> list[str]:
    """Where ``now`` lost or changed a recorded value (new keys in ``now`` are fine)."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        return [d for k, v in recorded.items()
                for d in _differences(v, now.get(k), f"{where}.{k}")]
    if isinstance(recorded, list) and isinstance(now, list) and len(recorded) == len(now):
        return [d for i, (a, b) in enumerate(zip(recorded, now, strict=True))
                for d in _differences(a, b, f"{where}[{i}]")]
    return [] if recorded == now else [f"{where}: recorded {recorded!r}, now {now!r}"]


def test_every_current_type_is_in_a_golden_bag() -> None:
    recorded = {m.header.type for path in GOLDEN for m in BagReader(path).messages()}
    missing = sorted(set(message_types()) - recorded)
    assert missing == [], (
        f"no golden bag holds {', '.join(missing)}: run python tests/data/make_golden.py "
        "and commit the new bag"
    )
