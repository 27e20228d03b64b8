"""The Twitch outbox: replies kept across a lost connection, bounded in count and age."""

from __future__ import annotations

import pytest

from nodes.chat.twitch.outbox import Outbox


def texts(box: Outbox) -> list[str]:
    return [reply.line for reply in box.pending]


class TestOutbox:
    def test_unanswered_replies_go_back_in_order(self) -> None:
        box = Outbox(10)
        for i in range(4):
            box.put(f"r{i}", 0.0)
        for _ in range(3):
            reply, _ = box.take(0.0)
            assert reply is not None
            box.sent(reply, 0.1)
        assert box.answered()  # r0 reached the channel
        assert box.requeue(0.2) == 2
        assert texts(box) == ["r1", "r2", "r3"]
        assert not box.in_flight

    def test_stale_replies_are_dropped_and_counted(self) -> None:
        box = Outbox(10, max_age_s=120.0)
        box.put("old", 0.0)
        box.put("fresh", 100.0)
        reply, stale = box.take(121.0)
        assert (reply and reply.line, stale) == ("fresh", 1)

    def test_a_full_queue_drops_the_oldest(self) -> None:
        box = Outbox(2)
        assert box.put("a", 0.0) and box.put("b", 0.0)
        assert not box.put("c", 0.0)
        assert texts(box) == ["b", "c"]

    def test_requeue_stays_within_capacity(self) -> None:
        box = Outbox(2)
        for line in ("a", "b"):
            box.put(line, 0.0)
            reply, _ = box.take(0.0)
            assert reply is not None
            box.sent(reply, 0.0)
        box.put("c", 0.0)
        box.put("d", 0.0)
        assert box.requeue(0.1) == 2
        assert texts(box) == ["c", "d"]  # the newest two of a, b, c, d

    def test_unanswered_past_the_timeout_counts_as_delivered(self) -> None:
        box = Outbox(10, ack_timeout_s=10.0)
        box.put("r0", 0.0)
        reply, _ = box.take(0.0)
        assert reply is not None
        box.sent(reply, 0.0)
        assert box.requeue(10.5) == 0
        assert box.idle

    def test_answer_without_anything_in_flight(self) -> None:
        assert not Outbox(1).answered()

    @pytest.mark.parametrize(("capacity", "age", "ack"), [(0, 1.0, 1.0), (1, 0.0, 1.0),
                                                         (1, 1.0, -1.0)])
    def test_bad_bounds_are_refused(self, capacity: int, age: float, ack: float) -> None:
        with pytest.raises(ValueError, match="an outbox needs"):
            Outbox(capacity, max_age_s=age, ack_timeout_s=ack)
