"""launch.control.join: the supervisor's view and the registry's, side by side."""

from __future__ import annotations

import time

from bus import protocol as p
from launch.control import ProgramStatus, join


def _program(name: str, state: str = "RUNNING", pid: int = 10, restarts: int = 0
             ) -> ProgramStatus:
    return ProgramStatus(name=name, share="all", state=state, pid=pid,
                         uptime_s=5.0 if pid else None, restarts=restarts, exit_status=0,
                         description="")


def _node(name: str, pid: int, *, hidden: bool = False, rate: float = 0.0) -> p.NodeStatus:
    info = p.NodeInfo(
        name=name, pid=pid, host="box", started_ns=time.time_ns() - 60 * 10**9,
        publishers=[p.Endpoint("demo/count", "demo.Count")],
        pub_stats={"demo/count": p.TopicStats(count=100, rate_hz=rate)}, hidden=hidden,
    )
    return p.NodeStatus(info=info, heartbeat_age_s=0.25)


class TestJoin:
    def test_programs_first_then_nodes_run_by_hand(self) -> None:
        graph = p.Graph(nodes=[_node("talker", 10, rate=20.0), _node("manual", 77),
                               _node("_vtnode_1", 5, hidden=True)])
        programs = [_program("vtbus", pid=3), _program("talker", restarts=2),
                    _program("crasher", state="BACKOFF", pid=0, restarts=4)]
        rows = join(programs, graph)
        assert [r.name for r in rows] == ["vtbus", "talker", "crasher", "manual"]
        vtbus, talker, crasher, manual = rows
        assert (vtbus.state, vtbus.heartbeat_age_s, vtbus.publishers) == ("RUNNING", None, 0)
        assert (talker.state, talker.pid, talker.restarts, talker.heartbeat_age_s,
                talker.pub_rate_hz, talker.host) == ("RUNNING", 10, 2, 0.25, 20.0, "box")
        assert (crasher.state, crasher.pid, crasher.uptime_s, crasher.restarts) == (
            "BACKOFF", 0, None, 4)
        assert (manual.state, manual.pid, manual.restarts, manual.share) == ("-", 77, None, "")
        assert manual.uptime_s is not None and manual.uptime_s >= 60

    def test_hidden_nodes_on_request_and_no_bus(self) -> None:
        graph = p.Graph(nodes=[_node("_vtnode_1", 5, hidden=True)])
        assert [r.name for r in join([], graph, hidden=True)] == ["_vtnode_1"]
        assert [r.name for r in join([_program("vtbus")], None)] == ["vtbus"]
