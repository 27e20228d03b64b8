"""The game node as a real process on a real vtbus, playing the real tic-tac-toe: moves by
tool call, a kill -9 mid-game, and the restarted node resumes the same game at the same
move; chat's vote; a corrupt save on disk starts fresh and says so."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from helpers.chat import chat_line

from bus.testing import NodeProcess, Probe, wait_until
from messages.base import Header
from messages.game import GameEvent, GameState
from messages.llm import ToolCall

GAME = "nodes.game"
StartNode = Callable[..., NodeProcess]
IN = ["llm/tool_call", "chat/message"]

pytestmark = pytest.mark.slow


def since(found: list[tuple[Header, GameState]], stamp_ns: int) -> list[GameState]:
    return [m for h, m in found if h.stamp_ns >= stamp_ns]


async def play_top(probe: Probe, found: list[tuple[Header, GameState]], persona: str,
                   moves_after: int) -> GameState:
    """``persona`` calls the top-ranked cell of the latest state; the state after it."""
    state = found[-1][1]
    assert state.turn == persona, state
    probe.publish("llm/tool_call", ToolCall(
        request_id=f"{state.move_id}/r1", persona=persona, call_id="c1", name="place",
        arguments=state.actions[0].options[0].arguments))
    await probe.wait_for("game/state", where=lambda s: len(s.moves) == moves_after)
    return found[-1][1]


async def test_kill_9_resumes_the_same_game_at_the_same_move(
        bus_url: str, tmp_path: Path, start_node: StartNode) -> None:
    params = {"game": "tictactoe", "state_dir": str(tmp_path)}
    async with Probe(bus_url) as probe:
        states = probe.collect("game/state")
        events = probe.collect("game/event")
        node = start_node(GAME, params=params)
        await probe.wait_for_process(node, IN)
        await probe.wait_for("game/state", where=lambda s: s.turn == "mika")
        await play_top(probe, states, "mika", 1)
        before = await play_top(probe, states, "rook", 2)
        assert before.turn == "mika" and len(before.moves) == 2

        node.kill()  # SIGKILL: no goodbye, no last save
        killed_at = time.time_ns()
        again = start_node(GAME, params=params)
        await probe.wait_for_process(again, IN)
        await probe.wait_for("game/event", where=lambda e: e.event == "resumed")
        # the event and the state travel on two topics: the state may come a moment later
        resumed = await wait_until(lambda: since(states, killed_at), 10.0,
                                   what="a state from the restarted node")
        after = resumed[-1]
        assert (after.game_id, after.moves, after.move_id, after.turn) == (
            before.game_id, before.moves, before.move_id, "mika")
        assert after.state["board"] == before.state["board"]

        # the request the director made before the kill still answers this move
        third = await play_top(probe, states, "mika", 3)
        assert third.game_id == before.game_id and third.turn == "rook"
        assert not [m for _, m in events if m.event == "corrupt_save"]


async def test_chat_votes_over_the_bus_and_a_corrupt_save_is_said(
        bus_url: str, tmp_path: Path, start_node: StartNode) -> None:
    (tmp_path / "current.json").write_bytes(b'{"kind": "tictactoe", "game_id": ')
    params = {"game": "tictactoe", "state_dir": str(tmp_path), "vote_s": 1.0,
              "players": {"tictactoe": {"X": "chat", "O": "rook"}}}
    async with Probe(bus_url) as probe:
        probe.collect("game/state")
        events: list[tuple[Header, GameEvent]] = probe.collect("game/event")
        says = probe.collect("chat/say")
        node = start_node(GAME, params=params)
        await probe.wait_for_process(node, IN)
        corrupt = await probe.wait_for("game/event", where=lambda e: e.event == "corrupt_save")
        assert corrupt[0].speak and list(tmp_path.glob("current.bad-*.json"))
        await probe.wait_for("game/state", where=lambda s: s.turn == "chat")
        for user, text in (("ann", "!move 5"), ("bob", "!move 5"), ("cat", "!move 12")):
            probe.publish("chat/message", msgspec.structs.replace(
                chat_line(text, user=user), command="move"))
        result = await probe.wait_for("game/event", where=lambda e: e.event == "vote_result",
                                      timeout=20)
        assert result[0].text == "chat chose 5 (2 of 2 votes)"
        state = await probe.wait_for("game/state", where=lambda s: s.turn == "rook")
        assert state[-1].moves == ["chat: X at 5"]
        await probe.wait_for("chat/say")
        assert says[0][1].text.startswith("@cat '12' is not a legal choice; legal:")
        assert [m.event for _, m in events].count("started") == 1
