"""The memory backlog: batches in arrival order that never cross a forget, and its bound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.memory.backlog import Backlog
from nodes.memory.records import MemoryRecord


def records(*numbers: int) -> list[MemoryRecord]:
    return [MemoryRecord(id=f"m{n}", text=f"line {n}", kind="chat") for n in numbers]


def ids(batch: object) -> list[str]:
    assert isinstance(batch, list)
    return [r.id for r in batch]


class TestBatches:
    def test_batches_in_arrival_order_up_to_the_size(self) -> None:
        backlog: Backlog[str] = Backlog(100)
        backlog.add(records(0, 1, 2))
        backlog.add(records(3, 4))
        assert ids(backlog.take(4)) == ["m0", "m1", "m2", "m3"]
        assert ids(backlog.take(4)) == ["m4"]
        assert backlog.take(4) is None

    def test_a_marker_splits_the_batches(self) -> None:
        backlog: Backlog[str] = Backlog(100)
        backlog.add(records(0, 1))
        backlog.mark("forget twitch:1")
        backlog.add(records(2))
        assert ids(backlog.take(10)) == ["m0", "m1"]  # not m2: it came after the forget
        assert backlog.take(10) == "forget twitch:1"
        assert ids(backlog.take(10)) == ["m2"]

    def test_markers_in_a_row(self) -> None:
        backlog: Backlog[str] = Backlog(100)
        backlog.mark("a")
        backlog.mark("b")
        assert [backlog.take(5), backlog.take(5), backlog.take(5)] == ["a", "b", None]

    def test_length_counts_memories_not_markers(self) -> None:
        backlog: Backlog[str] = Backlog(100)
        backlog.add(records(0, 1, 2))
        backlog.mark("a")
        assert len(backlog) == 3 and backlog
        backlog.take(2)
        assert len(backlog) == 1
        backlog.take(2)
        backlog.take(2)
        assert len(backlog) == 0 and not backlog


class TestBound:
    def test_refuses_beyond_the_limit_and_says_how_many_fitted(self) -> None:
        backlog: Backlog[str] = Backlog(3)
        assert backlog.add(records(0, 1)) == 2
        assert backlog.add(records(2, 3, 4)) == 1
        backlog.mark("a")  # markers are always taken
        assert ids(backlog.take(10)) == ["m0", "m1", "m2"]
        assert backlog.take(10) == "a"
        assert backlog.add(records(5)) == 1  # room again once taken

    # (limit or batch size, the message)
    @pytest.mark.parametrize(("limit", "most", "message"), [
        (0, 1, "backlog limit must be positive, got 0"),
        (5, 0, "batch size must be positive, got 0"),
    ])
    def test_bad_sizes_refused(self, limit: int, most: int, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            Backlog[str](limit).take(most)


# a random sequence of adds (a count of lines) and markers (-1), and batch sizes
operations = st.lists(st.integers(min_value=-1, max_value=7), max_size=40)


@settings(max_examples=300, derandomize=True, print_blob=True)
@given(operations, st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=20))
def test_everything_leaves_once_in_order_never_across_a_marker(
        ops: list[int], most: int, limit: int) -> None:
    backlog: Backlog[int] = Backlog(limit)
    expected: list[object] = []  # what was accepted, in order: ids and marker numbers
    n = 0
    for marker, op in enumerate(ops):
        if op < 0:
            backlog.mark(marker)
            expected.append(marker)
        else:
            batch = records(*range(n, n + op))
            fitted = backlog.add(batch)
            held = sum(isinstance(e, str) for e in expected)  # nothing is taken while adding
            assert fitted == min(op, limit - held)
            expected += [r.id for r in batch[:fitted]]
            n += op
    out: list[object] = []
    while (item := backlog.take(most)) is not None:
        if isinstance(item, list):
            assert 1 <= len(item) <= most
            out += [r.id for r in item]
            out.append("|")  # a batch boundary
        else:
            out.append(item)
    assert [x for x in out if x != "|"] == expected
    # a batch never holds memories from both sides of a marker: between two markers in
    # `out` there are only ids and boundaries, and a marker always follows a boundary
    for i, x in enumerate(out):
        if isinstance(x, int) and i > 0:
            assert out[i - 1] == "|" or isinstance(out[i - 1], int)

