"""A game that takes requests from chat (Minecraft's "Mika, come to me"), on the harness with
the errands game of `helpers.games`: a line it takes becomes the persona's move and is listed
in the state's ``asks`` for the director; lines of the game's own chat go to ``chat/incoming``;
the persona's answer to them, or to a move, is handed back to the game to say there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers.chat import chat_line
from helpers.games import ERRANDS, Errands, register_errands

from bus.testing import NodeHarness, wait_until
from messages.director import Turn
from messages.game import GameState
from messages.llm import LlmDone, ToolCall
from nodes.game.node import GameNode

register_errands()


@pytest.fixture
async def errands(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    async with NodeHarness(GameNode, parameters={
            "state_dir": str(tmp_path / "game"), "game": ERRANDS,
            "players": {ERRANDS: {"mika": "mika", "rook": "rook"}}}) as h:
        await wait_until(lambda: h.messages("game/state"), what="the first game/state")
        yield h


def game(h: NodeHarness) -> Errands:
    found = h.node.game  # type: ignore[attr-defined]
    assert isinstance(found, Errands)
    return found


def last(h: NodeHarness) -> GameState:
    return h.messages("game/state")[-1]  # type: ignore[no-any-return]


async def test_a_line_the_game_takes_becomes_the_personas_move(errands: NodeHarness) -> None:
    assert last(errands).hears_chat and not last(errands).turn
    errands.feed("chat/message", chat_line("rook, fetch apples", msg_id="m1"))
    errands.feed("chat/message", chat_line("rook is cute", msg_id="m2"))
    state = await wait_until(lambda: last(errands).turn == "rook" and last(errands),
                             what="rook's move")
    assert state.asks == ["m1"] and state.actions[0].options[0].arguments == {
        "errand": "fetch apples"}
    assert errands.node.counters["chat_requests"] == 1
    errands.feed("llm/tool_call", ToolCall(request_id=f"{state.move_id}/r1", persona="rook",
                                           call_id="c1", name="do",
                                           arguments={"errand": "fetch apples"}))
    await wait_until(lambda: not last(errands).turn, what="the errand done")
    errands.feed("llm/done", LlmDone(request_id=f"{state.move_id}/r1", persona="rook",
                                     text="Apples, coming up."))
    await wait_until(lambda: game(errands).said_lines, what="the line said in the game")
    assert game(errands).said_lines == [("rook", "Apples, coming up.")]


async def test_the_games_own_chat_goes_in_and_the_answer_goes_back(
        errands: NodeHarness) -> None:
    line = chat_line("hi mika", msg_id="mc1", platform="minecraft")
    game(errands).hooks.chat(line)
    assert errands.messages("chat/incoming") == [line]
    errands.feed("chat/message", line)  # as the chat node passes it on
    errands.feed("director/turn", Turn(speaker="mika", why="chat", request_id="r9",
                                       reply_to="mc1"))
    errands.feed("director/turn", Turn(speaker="rook", why="chat", request_id="r10",
                                       reply_to="tw1"))
    for request_id in ("r10", "r9"):
        errands.feed("llm/done", LlmDone(request_id=request_id, persona="mika",
                                         text=f"hello from {request_id}"))
    await wait_until(lambda: game(errands).said_lines, what="the answer said in the game")
    await errands.settle()
    assert game(errands).said_lines == [("mika", "hello from r9")], \
        "only the answer to the game's own chat"


async def test_a_failed_reply_says_nothing_in_the_game(errands: NodeHarness) -> None:
    errands.feed("chat/message", chat_line("hi", msg_id="mc2", platform="minecraft"))
    errands.feed("director/turn", Turn(speaker="mika", request_id="r1", reply_to="mc2"))
    errands.feed("llm/done", LlmDone(request_id="r1", persona="mika", text="", error="boom"))
    errands.feed("llm/done", LlmDone(request_id="r1", persona="mika", text="Hi!"))
    await wait_until(lambda: game(errands).said_lines, what="the good reply said")
    assert game(errands).said_lines == [("mika", "Hi!")], "the failed one said nothing"


async def test_a_game_may_say_how_it_starts(errands: NodeHarness) -> None:
    """Minecraft is no match: "mika against rook" would be wrong, its own line is said."""
    started = await wait_until(lambda: [e for e in errands.messages("game/event")
                                        if e.event == "started"], what="started")
    assert started[0].text == "mika and rook run errands for chat" and started[0].speak
