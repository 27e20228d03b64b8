"""The game node with the games that ship, on the harness: a whole tic-tac-toe Mika against
Rook through tool calls, chess moved by chat's vote in a loose spelling, and a trivia round
whose viewers are scored one by one and remembered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from helpers.chat import chat_line

from bus.testing import NodeHarness, wait_until
from messages.chat import ChatMessage
from messages.game import GameEvent, GameState
from messages.llm import ToolCall
from messages.memory import ConversationTurn
from nodes.game.node import GameNode


def last(h: NodeHarness) -> GameState:
    return h.messages("game/state")[-1]


def events(h: NodeHarness, name: str) -> list[GameEvent]:
    return [e for e in h.messages("game/event") if e.event == name]


def vote(command: str, text: str, user: str) -> ChatMessage:
    return msgspec.structs.replace(chat_line(text, user=user), command=command)


async def until(h: NodeHarness, check: Any, what: str) -> Any:
    await h.settle()
    return await wait_until(check, 10.0, what=what)


async def test_tictactoe_mika_against_rook_to_the_end(tmp_path: Path) -> None:
    async with NodeHarness(GameNode, parameters={
            "game": "tictactoe", "state_dir": str(tmp_path)}) as h:
        await until(h, lambda: h.messages("game/state"), "the first state")
        for number in range(1, 10):
            state = last(h)
            if state.finished:
                break
            best = state.actions[0].options[0]
            assert best.note  # ranked with a reason a persona can say
            h.feed("llm/tool_call", ToolCall(request_id=state.move_id, persona=state.turn,
                                             call_id=f"c{number}", name="place",
                                             arguments=best.arguments))
            await until(h, lambda n=number: len(last(h).moves) == n or last(h).finished,
                        f"move {number}")
        state = last(h)
        assert state.finished and "draw" in state.outcome  # perfect play on both sides
        assert [t.persona for t in h.messages("memory/turn")] == ["mika", "rook"]
        assert h.node.counters["moves_applied"] == 9


async def test_chess_chat_votes_a_loose_spelling(tmp_path: Path) -> None:
    async with NodeHarness(GameNode, parameters={
            "game": "chess", "state_dir": str(tmp_path), "vote_s": 0.3}) as h:
        await until(h, lambda: events(h, "vote_open"), "chat's vote on white's move")
        assert last(h).turn == "chat" and last(h).players == {"white": "chat", "black": "rook"}
        h.feed("chat/message", vote("move", "!move e2e4", "ann"))  # normalised to e4
        h.feed("chat/message", vote("move", "!move e4", "bob"))
        h.feed("chat/message", vote("move", "!move d4", "cat"))
        h.feed("chat/message", vote("move", "!move e5", "dan"))  # not legal for white
        result = await until(h, lambda: events(h, "vote_result"), "the vote result")
        assert result[0].text == "chat chose e4 (2 of 3 votes)"
        state = await until(h, lambda: last(h).turn == "rook" and last(h), "black's move")
        assert state.moves and "e4" in state.moves[0]
        assert h.messages("chat/say")[0].text.startswith("@dan 'e5' is not a legal")


async def test_trivia_scores_each_viewer_and_remembers_them(tmp_path: Path) -> None:
    async with NodeHarness(GameNode, parameters={
            "game": "trivia", "state_dir": str(tmp_path), "vote_s": 0.3,
            "settings": {"trivia": {"rounds": 1, "seed": 7}}}) as h:
        state = await until(h, lambda: h.messages("game/state") and last(h), "the host's turn")
        assert state.turn == "mika" and state.actions[0].name == "ask"
        h.feed("llm/tool_call", ToolCall(request_id=state.move_id, persona="mika",
                                         call_id="c1", name="ask", arguments={}))
        question = await until(h, lambda: events(h, "question"), "the question")
        assert question[0].speak
        await until(h, lambda: events(h, "vote_open"), "the answer window")
        letters = "ABCDEF"[:len(question[0].data["choices"])]
        for letter in letters:  # one viewer per choice: exactly one is right
            h.feed("chat/message", vote("answer", f"!answer {letter.lower()}", f"v{letter}"))
        state = await until(h, lambda: last(h).finished and last(h), "the end of the round")
        assert events(h, "round") and events(h, "finished")[0].speak
        viewers = [t for t in h.messages("memory/turn") if t.viewer]
        assert len(viewers) == 1 and viewers[0].viewer.startswith("twitch:v")
        assert "scored 1" in viewers[0].text
        hosts = {t.persona for t in h.messages("memory/turn") if t.persona}
        assert hosts == {"mika", "rook"}
        assert all(isinstance(t, ConversationTurn) for t in h.messages("memory/turn"))
