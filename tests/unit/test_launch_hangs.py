"""launch.hangs: a node is hung when its heartbeats stop after it joined, on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

from bus import protocol as p
from launch.hangs import HangWatch, Hung


def graph(*nodes: tuple[str, int, float], epoch: str = "e1") -> p.Graph:
    """A registry graph of (name, pid, heartbeat age) entries."""
    return p.Graph(nodes=[p.NodeStatus(p.NodeInfo(name, pid, "main", 0), age)
                          for name, pid, age in nodes], epoch=epoch)


def watch_every_half_second(watch: HangWatch, registry: Callable[[float], p.Graph | None],
                            until: float) -> dict[float, list[Hung]]:
    """Give the watch ``registry(t)`` at t = 0, 0.5, 1... (vtlaunch's loop asks about that
    often; None: vtbus did not answer); the hung nodes at each time some were found."""
    found = {}
    for step in range(int(until * 2) + 1):
        answer = registry(step / 2)
        hung = watch.observe(answer, step / 2) if answer is not None else []
        if hung:
            found[step / 2] = hung
    return found


class TestHangWatch:
    def test_a_beating_node_is_never_hung(self) -> None:
        watch = HangWatch({"tts": 3.0})
        for step in range(100):
            assert watch.observe(graph(("tts", 10, 0.9)), step / 2) == []

    def test_silence_after_joining_is_a_hang_with_its_pid(self) -> None:
        watch = HangWatch({"tts": 3.0})
        assert watch.observe(graph(("tts", 10, 0.2)), 10.0) == []
        assert watch.observe(graph(("tts", 10, 2.2)), 12.0) == []   # registry still lists it
        assert watch.observe(graph(), 12.5) == []                   # dropped at its TTL
        # heard at 9.8, but judged from when the registry first answered (10.0)
        assert watch.observe(graph(), 13.0) == []
        assert watch.observe(graph(), 13.5) == [Hung("tts", 10, 3.5, 3.0)]

    def test_a_node_that_never_joined_is_starting_not_hung(self) -> None:
        watch = HangWatch({"llm": 3.0})
        found = watch_every_half_second(watch, lambda t: graph(), until=600)
        assert found == {}  # ten minutes loading a model

    def test_each_node_has_its_own_timeout_and_zero_is_never(self) -> None:
        watch = HangWatch({"quick": 2.0, "slow": 8.0, "unwatched": 0.0})
        beating = graph(("quick", 1, 0.0), ("slow", 2, 0.0), ("unwatched", 3, 0.0))
        found = watch_every_half_second(watch, lambda t: beating if t < 1 else graph(),
                                        until=30)
        first = {h.name: t for t, hung in sorted(found.items(), reverse=True) for h in hung}
        assert first == {"quick": 3.0, "slow": 9.0}  # last heard at 0.5

    def test_vtbus_restart_gives_every_node_its_time_again(self) -> None:
        watch = HangWatch({"tts": 3.0})

        def registry(t: float) -> p.Graph | None:
            # tts beats until 0.5; vtbus dies at 1 s and is back at 5 s with an empty registry
            # (a new epoch); tts rejoins at 6 s with one heartbeat
            if t < 1:
                return graph(("tts", 10, 0.0))
            if t < 5:
                return None
            return graph(("tts", 10, 0.0), epoch="e2") if t == 6 else graph(epoch="e2")

        found = watch_every_half_second(watch, registry, until=20)
        assert min(found) == 9.5  # silent since 6.0, not since 0.5

    def test_a_registry_that_stopped_answering_is_not_the_nodes_fault(self) -> None:
        watch = HangWatch({"tts": 3.0}, registry_gap_s=2.0)
        assert watch.observe(graph(("tts", 10, 0.0)), 0.0) == []
        # no graph for 10 s (vtbus was stopped), then it lists tts with its old age
        assert watch.observe(graph(("tts", 10, 10.0)), 10.0) == []
        assert watch.observe(graph(("tts", 10, 0.5)), 10.5) == []
        assert watch.observe(graph(), 12.0) == []
        assert watch.observe(graph(), 13.5) == [Hung("tts", 10, 3.5, 3.0)]

    def test_a_restarted_node_is_judged_by_its_new_pid(self) -> None:
        watch = HangWatch({"tts": 3.0})
        assert watch.observe(graph(("tts", 10, 0.0)), 0.0) == []
        assert watch.observe(graph(), 2.0) == []
        assert [h.pid for h in watch.observe(graph(), 3.5)] == [10]
        watch.forget("tts")  # killed: supervisord starts it again
        assert watch.observe(graph(), 60.0) == []  # loading again, not yet seen
        assert watch.observe(graph(("tts", 11, 0.0)), 61.0) == []
        assert watch.observe(graph(), 62.5) == []
        assert watch.observe(graph(), 64.0) == []
        assert watch.observe(graph(), 64.5) == [Hung("tts", 11, 3.5, 3.0)]
