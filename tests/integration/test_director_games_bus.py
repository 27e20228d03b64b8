"""The director and the real game node as real processes on a real vtbus: Mika and Rook play a
whole tic-tac-toe through the director's requests, with a scripted stand-in for the LLM
(the call a constrained decode makes: the first tool, each argument's first legal choice),
the TTS and the speaker (`helpers.director.PlayingVoice`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.director import PlayingVoice

from bus.testing import NodeProcess, Probe
from messages.game import GameState

StartNode = Callable[..., NodeProcess]

pytestmark = pytest.mark.slow


async def test_mika_and_rook_play_a_whole_game_through_the_director(
        bus_url: str, tmp_path: Path, start_node: StartNode) -> None:
    async with Probe(bus_url) as probe:
        PlayingVoice(probe)
        requests = probe.collect("llm/request")
        states = probe.collect("game/state")
        probe.collect("game/event")
        start_node("nodes.director", params={"banter_turns": 0, "quiet_s": 1000,
                                             "memory_timeout_s": 0.1})
        await probe.wait_for_node("director")
        start_node("nodes.game", params={"game": "tictactoe", "state_dir": str(tmp_path)})
        (finished,) = await probe.wait_for("game/event", where=lambda e: e.event == "finished",
                                           timeout=120)
        await probe.wait_for("llm/request", timeout=30,
                             where=lambda r: not r.tools and finished.text in (
                                 r.messages[-1].content if r.messages else ""))

        asked = {m.move_id: m for _, m in states if m.move_id}
        moves = [r for _, r in requests if r.tools and not r.prefill]
        final: GameState = states[-1][1]
        assert final.finished and final.outcome == finished.text
        assert len(moves) == len(final.moves), "every move asked once, none refused"
        for request in moves:
            state = asked[request.request_id.split("/")[0]]
            assert request.persona == state.turn
            assert [t.name for t in request.tools] == [a.name for a in state.actions]
        assert [r.persona for r in moves] == ["mika", "rook"] * (len(moves) // 2) + (
            ["mika"] if len(moves) % 2 else [])
        comments = [r for _, r in requests if not r.tools and not r.prefill]
        assert any("a game of tictactoe starts" in r.messages[-1].content for r in comments)
