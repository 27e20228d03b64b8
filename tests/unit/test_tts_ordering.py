"""Sentences released in order per request, oldest request first, cancels remembered."""

from __future__ import annotations

from nodes.tts.ordering import Push, SentenceQueue


def drain(queue: SentenceQueue[str]) -> list[str]:
    out = []
    while (entry := queue.pop()) is not None:
        out.append(entry[0])
    return out


class TestOrder:
    def test_in_index_order(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue()
        queue.push("r", 1, "r1", final=False)
        assert queue.pop() is None  # waits for index 0
        queue.push("r", 0, "r0", final=False)
        assert drain(queue) == ["r0", "r1"]

    def test_oldest_request_first_but_never_blocked_by_it(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue()
        queue.push("a", 0, "a0", final=False)
        queue.push("b", 0, "b0", final=False)
        queue.push("a", 1, "a1", final=True)
        assert drain(queue) == ["a0", "a1", "b0"]
        queue.push("b", 1, "b1", final=True)
        assert drain(queue) == ["b1"]

    def test_final_flag_comes_back(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue()
        queue.push("r", 0, "x", final=True)
        assert queue.pop() == ("x", True)

    def test_duplicate_and_finished_are_stale(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue()
        assert queue.push("r", 0, "x", final=False) == Push.QUEUED
        assert queue.push("r", 0, "x", final=False) == Push.STALE
        queue.push("r", 1, "y", final=True)
        drain(queue)
        assert queue.push("r", 2, "z", final=False) == Push.STALE


class TestGaps:
    def test_final_behind_a_gap_releases_it(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue()
        queue.push("r", 0, "r0", final=False)
        queue.pop()
        queue.push("r", 2, "r2", final=True)  # index 1 was lost
        assert drain(queue) == ["r2"]
        assert queue.skipped == 1

    def test_a_gap_is_waited_for_briefly(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue(max_waiting=2)
        for index in (1, 2):
            queue.push("r", index, f"r{index}", final=False)
        assert queue.pop() is None
        queue.push("r", 3, "r3", final=False)  # three behind the gap: 0 is gone
        assert drain(queue) == ["r1", "r2", "r3"]


class TestCancel:
    def test_cancel_drops_queued_and_refuses_later(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue()
        queue.push("a", 0, "a0", final=False)
        queue.push("b", 0, "b0", final=False)
        assert queue.cancel("a") == ["a"]
        assert queue.push("a", 1, "a1", final=True) == Push.CANCELLED
        assert drain(queue) == ["b0"]
        assert queue.is_cancelled("a")

    def test_cancel_all(self) -> None:
        queue: SentenceQueue[str] = SentenceQueue()
        queue.push("a", 0, "a0", final=False)
        queue.push("b", 0, "b0", final=False)
        assert sorted(queue.cancel("")) == ["a", "b"]
        assert len(queue) == 0
