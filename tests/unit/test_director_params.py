"""The director's parameters as ``vtparam set`` changes them: live ones reach its rules at
once, the cast (read at start) is refused with the restart that changes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bus.node import NodeOptions
from bus.testing import NodeHarness
from messages.director import Turn
from messages.system import ParamSetRequest
from nodes.director.node import Director


@pytest.fixture
async def harness() -> AsyncIterator[NodeHarness]:
    node = Director(options=NodeOptions(bus="ipc:///tmp/vt-unused-director"))
    yield NodeHarness(node)
    await node.close()


async def _set(harness: NodeHarness, **values: object) -> tuple[bool, str]:
    reply = await harness.call("director/set_parameters", ParamSetRequest(values=values))
    return reply.successful, reply.reason


class TestLiveParameters:
    async def test_the_floor_and_the_deadlines_take_new_values(self,
                                                               harness: NodeHarness) -> None:
        director: Director = harness.node  # type: ignore[assignment]
        assert await _set(harness, quiet_s=5, banter_turns=0, reply_stall_s=12,
                          rejoin_wait_s=4, history_lines=10) == (True, "")
        turns = director.turns
        assert (turns.floor.quiet_s, turns.floor.banter_turns) == (5.0, 0)
        assert (turns.limits.stall_s, turns.limits.rejoin_wait_s) == (12.0, 4.0)
        assert turns.roster.rejoin_wait_s == 4.0 and turns.conversation.limit == 10

    async def test_a_value_read_at_use_is_the_new_one(self, harness: NodeHarness) -> None:
        director: Director = harness.node  # type: ignore[assignment]
        assert await _set(harness, memory_k=0) == (True, "")
        assert director.params.memory_k == 0

    async def test_timers_are_re_timed(self, harness: NodeHarness) -> None:
        director: Director = harness.node  # type: ignore[assignment]
        assert await _set(harness, tick_s=1.5, watch_s=2) == (True, "")
        assert (director.tick_timer.period_s, director.watch_timer.period_s) == (1.5, 2.0)

    async def test_greeting_and_who_may_talk(self, harness: NodeHarness) -> None:
        director: Director = harness.node  # type: ignore[assignment]
        assert director.turns.greeting.waiting and director.turns.voices.room_takes_floor
        assert await _set(harness, greeting=False, room_takes_floor=False,
                          human_name="Alex") == (True, "")
        turns = director.turns
        assert not turns.greeting.waiting
        assert (turns.voices.room_takes_floor, turns.voices.human_name) == (False, "Alex")
        assert await _set(harness, greeting=True) == (True, "")
        assert turns.greeting.waiting, "not said yet: switched on again"

    async def test_a_turn_latched_before_its_first_says_the_show_is_under_way(
            self, harness: NodeHarness) -> None:
        director: Director = harness.node  # type: ignore[assignment]
        harness.feed("director/turn", Turn(speaker="rook", why="chat", request_id="old"))
        assert not director.turns.greeting.waiting
        assert "rook had the floor" in director.turns.greeting.reason

    async def test_a_bad_value_changes_nothing(self, harness: NodeHarness) -> None:
        director: Director = harness.node  # type: ignore[assignment]
        ok, reason = await _set(harness, quiet_s=3, banter_turns=-1)
        assert not ok and "parameter 'banter_turns' expects int, got -1" in reason
        assert (director.params.quiet_s, director.turns.floor.quiet_s) == (20.0, 20.0)


async def test_the_cast_is_read_at_start(harness: NodeHarness) -> None:
    ok, reason = await _set(harness, personas_file="other.toml")
    assert not ok
    assert reason.startswith("personas_file is read at start: restart the node with "
                             "-p personas_file:=VALUE")
