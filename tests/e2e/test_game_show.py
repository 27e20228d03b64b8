"""A whole game in the show: ``vtlaunch stream.launch.toml game:=tictactoe`` on the embedded
default, Mika against Rook to the end, every move chosen by the bundled model (SmolLM2 on
llama.cpp, its call decoded under the legal moves' schema) and spoken.

Kept cheap where it does not matter to the game: the zero-time tone voice (the speaker still
writes its audio to WAV files at the pace it would play), no microphone, no avatar, no memory
store (the outcome still goes out on ``memory/turn``). The history is checked by replaying it
through the real tic-tac-toe rules, independently of the game node."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from bus.testing import Probe
from launch.testing import LaunchProcess
from nodes.game.games import GAMES, GameHooks

ROOT = Path(__file__).resolve().parents[2]
# benchmarks/ is a folder of scripts: the repo goes first so `benchmarks.game` imports
sys.path.insert(0, str(ROOT))

from benchmarks.game import gathered, outcome_heard  # noqa: E402

pytestmark = pytest.mark.slow

LAUNCH = ROOT / "launch" / "stream.launch.toml"
WATCHED = ("game/state", "game/event", "llm/tool_call", "llm/done", "tts/audio",
           "audio/playhead", "memory/turn")


def loud(pcm: bytes) -> bool:
    return bool(np.abs(np.frombuffer(pcm, dtype=np.int16)).max(initial=0) > 1000)


@pytest.mark.timeout(1500)  # 9 moves of the bundled model on a shared 2-core machine
async def test_mika_and_rook_play_a_whole_spoken_game_of_tictactoe(tmp_path: Path) -> None:
    args = ["game:=tictactoe", "mic:=false", "avatar:=false", "memory:=false", "tts:=tone",
            "audio_device:=wav", "quiet_s:=1000", "banter_turns:=0", "llm_seed:=7"]
    with LaunchProcess(LAUNCH, args, env={"VT_DATA_DIR": str(tmp_path)}) as show:
        # listening before the nodes start: the game begins as soon as the game node does.
        # Not to llm/request yet: the director takes any subscriber of it for an LLM, and
        # would ask the first move before the LLM is up (that request is lost)
        async with Probe(show.bus_url) as probe:
            for topic in WATCHED:
                probe.collect(topic)
            await asyncio.to_thread(show.wait_output, "every node on the bus", 300)
            probe.collect("llm/request")
            (end,) = await probe.wait_for("game/event", timeout=1200,
                                          where=lambda e: e.event == "finished")
            await outcome_heard(probe, end, timeout=180)
            seen = gathered(probe.received, WATCHED)
            remembered = probe.messages("memory/turn")
            errors = [d.error for d in probe.messages("llm/done") if d.error]
        assert await asyncio.to_thread(show.interrupt, 60) == 0, show.output

    states = [s.msg for s in seen if s.topic == "game/state" and s.msg.game_id == end.game_id]
    final = states[-1]
    assert final.finished and final.outcome == end.text
    events = [s for s in seen if s.topic == "game/event" and s.msg.game_id == end.game_id]
    # every move the model's own and legal at once (a move may time out before it is asked:
    # the game node's move_timeout_s runs while the floor is busy, which is not the model's)
    assert not [e.msg for e in events if e.msg.event in ("auto_move", "invalid")], errors

    # the history is legal, each move made by the persona whose turn it was
    first = next((s for s in states if not s.moves), None)
    assert first is not None, "the probe listened from the game's start"
    rules = GAMES.load("tictactoe", {"first": first.state["to_move"]}, final.players,
                       GameHooks())
    moved = [e for e in events if e.msg.event == "moved"]
    assert len(moved) == len(final.moves) >= 5
    for event in moved:
        actor = event.msg.data["actor"]
        assert event.msg.persona == actor == rules.turn()
        result = await rules.apply(actor, event.msg.data["name"], event.msg.data["arguments"])
        assert result.ok, result.message
    outcome = rules.outcome()
    assert outcome is not None and outcome.text == final.outcome
    assert rules.view()["moves"] == final.state["moves"]
    assert {e.msg.persona for e in moved} == {"mika", "rook"}

    # each move was its mover's call answering the move asked of them, within the legal
    # actions the state offered, and the turn that made it was spoken
    asked = {s.move_id: s for s in states if s.move_id}
    calls = [s for s in seen if s.topic == "llm/tool_call"]
    voiced = {s.msg.request_id for s in seen if s.topic == "tts/audio" and loud(s.msg.pcm)}
    for event in moved:
        (call, *_) = [c.msg for c in reversed(calls) if c.stamp_ns <= event.stamp_ns
                      and c.msg.persona == event.msg.persona]
        state = asked[call.request_id.split("/")[0]]
        assert state.turn == call.persona
        assert (call.name, call.arguments) == (event.msg.data["name"],
                                               event.msg.data["arguments"])
        (action,) = [a for a in state.actions if a.name == call.name]
        assert Draft202012Validator(action.schema).is_valid(call.arguments)
        assert call.request_id in voiced, f"{call.persona}'s move {call.arguments} was silent"

    # the outcome went to memory, one line per persona who played
    assert {t.persona for t in remembered if end.text in t.text} >= {"mika", "rook"}
