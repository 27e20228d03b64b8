"""Bounded tables and the rate-limited "logged once" memory (fake clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.bounded import INT64_MAX, LogLimiter, clamp_int64, put_bounded, release_freed_memory


class TestPutBounded:
    def test_the_oldest_entry_goes_first(self) -> None:
        table: dict[str, int] = {}
        for i in range(5):
            put_bounded(table, f"k{i}", i, 3)
        assert table == {"k2": 2, "k3": 3, "k4": 4}

    def test_a_known_key_is_updated_without_evicting(self) -> None:
        table = {"a": 1, "b": 2}
        put_bounded(table, "a", 9, 2)
        assert table == {"a": 9, "b": 2}


class TestClamp:
    # value, held within int64
    CASES = [(5, 5), (2**70, INT64_MAX), (-(2**70), -INT64_MAX - 1), (INT64_MAX, INT64_MAX)]

    def test_cases(self) -> None:
        assert [clamp_int64(v) for v, _ in self.CASES] == [want for _, want in self.CASES]


class TestLogLimiter:
    def test_each_key_once(self) -> None:
        limiter = LogLimiter()
        assert [limiter.should_log(k, 0.0) for k in "aab"] == [True, False, True]
        assert limiter.take_suppressed() == 1 and limiter.take_suppressed() == 0

    def test_a_flood_of_new_keys_gets_a_few_lines_per_window(self) -> None:
        limiter = LogLimiter(burst=3, window_s=10.0)
        first = [limiter.should_log(i, 0.0) for i in range(100)]
        assert first.count(True) == 3 and limiter.suppressed == 97
        later = [limiter.should_log(i, 10.0) for i in range(100, 200)]
        assert later.count(True) == 3  # a new window

    def test_memory_is_bounded_and_forgets_the_least_recent(self) -> None:
        limiter = LogLimiter(keys=2, burst=100)
        for key in ("a", "b", "a", "c"):  # "a" was seen again, so "b" is the one forgotten
            limiter.should_log(key, 0.0)
        assert limiter.should_log("a", 0.0) is False
        assert limiter.should_log("b", 0.0) is True


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_freed_memory_goes_back_to_the_system() -> None:
    blocks = [bytearray(4096) for _ in range(20_000)]  # ~80 MB of malloc'd blocks
    keep = bytearray(4096)  # allocated last: the heap's top stays in use, so glibc keeps the rest
    del blocks
    before = _rss_kb()
    release_freed_memory()
    assert _rss_kb() < before - 40_000, "the freed blocks stayed resident"
    del keep
