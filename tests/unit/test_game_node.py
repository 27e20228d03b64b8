"""The game node's wiring, run on the harness with the race game of `helpers.games`
registered by its one registry line: persona moves through tool calls (stale and foreign
calls dropped, invalid ones retried, then auto-played), chat's votes, !game for moderators,
the outcome to memory, the save and resume, and the parameters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from helpers.chat import chat_line
from helpers.games import KIND, Race, register

from bus.errors import ParameterError
from bus.node import NodeOptions
from bus.params import check_values
from bus.testing import NodeHarness, wait_until
from messages.chat import ChatMessage
from messages.game import GameEvent, GameState
from messages.llm import LlmDone, ToolCall
from messages.memory import ConversationTurn
from messages.system import ParamSetRequest
from nodes.game.node import GameNode
from nodes.game.params import Params

register()  # the race game: one registry line
PLAYERS = {KIND: {"a": "mika", "b": "rook"}}


def node_params(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {"state_dir": str(tmp_path / "game"), "players": PLAYERS, **more}


@pytest.fixture
async def race(tmp_path: Path) -> AsyncIterator[NodeHarness]:
    """A race to 5, mika (a) against rook (b), started by the ``game`` parameter."""
    async with NodeHarness(GameNode, parameters=node_params(tmp_path, game=KIND)) as h:
        await wait_until(lambda: states(h), what="the first game/state")
        yield h


def command_line(command: str, text: str, **more: Any) -> ChatMessage:
    """A chat line as the chat node publishes a command: tagged with its name."""
    return msgspec.structs.replace(chat_line(text, **more), command=command)


def states(h: NodeHarness) -> list[GameState]:
    return h.messages("game/state")


def events(h: NodeHarness, name: str | None = None) -> list[GameEvent]:
    return [e for e in h.messages("game/event") if name is None or e.event == name]


def last(h: NodeHarness) -> GameState:
    return states(h)[-1]


def call(h: NodeHarness, persona: str, n: int, *, request_id: str | None = None,
         name: str = "add") -> None:
    move_id = last(h).move_id
    h.feed("llm/tool_call", ToolCall(request_id=request_id or f"{move_id}/r1",
                                     persona=persona, call_id="c1", name=name,
                                     arguments={"n": n}))


async def until(h: NodeHarness, check: Callable[[], Any], what: str) -> Any:
    await h.settle()
    return await wait_until(check, 10.0, what=what)


class TestPersonaMoves:
    async def test_a_game_starts_and_the_mover_is_asked(self, race: NodeHarness) -> None:
        state = last(race)
        assert (state.game, state.turn, state.players) == (KIND, "mika", {"a": "mika", "b": "rook"})
        assert state.move_id.startswith(state.game_id) and state.actions[0].name == "add"
        assert [o.arguments for o in state.actions[0].options] == [{"n": 2}, {"n": 1}]
        assert (state.text, state.state) == ("total 0 of 5", {"total": 0, "target": 5})
        started = events(race, "started")
        assert started and started[0].speak and "mika against rook" in started[0].text

    async def test_the_movers_call_is_applied(self, race: NodeHarness) -> None:
        first = last(race)
        call(race, "mika", 2)
        state = await until(race, lambda: last(race).turn == "rook" and last(race), "rook's turn")
        assert state.moves == ["mika: +2"] and state.move_id != first.move_id
        assert state.game_id == first.game_id and state.attempt == 0
        moved = events(race, "moved")
        assert moved[0].persona == "mika" and moved[0].text == "mika adds 2"
        assert events(race, "total")[0].text == "now 2"  # the game's own event

    async def test_stale_and_foreign_calls_are_counted_and_dropped(
            self, race: NodeHarness) -> None:
        node = race.node
        old = last(race).move_id
        call(race, "rook", 1)                                # not rook's move
        call(race, "mika", 1, request_id="someone-else")     # answers no ask
        call(race, "mika", 1, request_id=old + "9/x")        # another ask's id
        await race.settle()
        assert (node.counters["tool_calls_not_mover"], node.counters["tool_calls_stale"]) == (1, 2)
        assert last(race).moves == []
        call(race, "mika", 1)
        await until(race, lambda: last(race).turn == "rook", "rook's turn")
        call(race, "mika", 1, request_id=old)                # mika's call of her old ask
        await race.settle()
        assert last(race).moves == ["mika: +1"]
        assert node.counters["tool_calls_not_mover"] == 2

    async def test_invalid_calls_retry_then_the_top_choice_is_played(
            self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(
                tmp_path, game=KIND, max_attempts=2)) as h:
            await until(h, lambda: states(h), "a state")
            first = last(h)
            call(h, "mika", 7)
            state = await until(h, lambda: last(h).attempt == 1 and last(h), "a retry")
            assert state.last_error == "add takes n = 1 or 2" and state.turn == "mika"
            assert state.move_id != first.move_id and state.moves == []
            assert events(h, "invalid")[0].persona == "mika"
            call(h, "mika", 9, name="subtract")
            state = await until(h, lambda: last(h).turn == "rook" and last(h), "the auto move")
            assert state.moves == ["mika: +2"]  # the top-ranked option
            auto = events(h, "auto_move")
            assert auto and auto[0].speak and auto[0].persona == "mika"
            assert h.node.counters["auto_moves"] == 1

    async def test_a_move_the_llm_could_not_call_fails_at_once(self, tmp_path: Path) -> None:
        # the LLM node says so in llm/done's error: before, the attempt waited move_timeout_s
        async with NodeHarness(GameNode, parameters=node_params(
                tmp_path, game=KIND, max_attempts=3, move_timeout_s=600)) as h:
            first = await until(h, lambda: states(h) and last(h), "a state")
            h.feed("llm/done", LlmDone(request_id=f"{first.move_id}/r1", persona="rook",
                                       text="", error="not my move"))  # not the mover: ignored
            h.feed("llm/done", LlmDone(request_id=f"{first.move_id}/r1", persona="mika",
                                       text="hm", error="no valid call: cell 12 is not legal"))
            state = await until(h, lambda: last(h).attempt == 1 and last(h), "a retry")
            assert state.last_error == "no valid call: cell 12 is not legal"
            assert state.move_id != first.move_id and state.turn == "mika"
            h.feed("llm/done", LlmDone(request_id=f"{first.move_id}/r1", persona="mika",
                                       text="", error="late"))  # the old move: stale
            await h.settle()
            assert last(h).attempt == 1 and h.node.counters["moves_without_call"] == 1

    async def test_a_persona_that_never_answers_times_out(self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(
                tmp_path, game=KIND, max_attempts=2, move_timeout_s=0.1)) as h:
            state = await until(h, lambda: len(events(h, "timeout")) >= 2
                                and last(h).turn == "rook" and last(h), "two timeouts")
            assert state.moves == ["mika: +2"]
            assert "made no move within 0.1 s" in events(h, "timeout")[0].text


class TestTheEnd:
    async def test_outcome_event_memory_and_no_save_left(self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(
                tmp_path, game=KIND, settings={KIND: {"target": 3}})) as h:
            await until(h, lambda: states(h), "a state")
            save = tmp_path / "game" / "current.json"
            assert save.exists()
            call(h, "mika", 2)
            await until(h, lambda: last(h).turn == "rook", "rook's turn")
            call(h, "rook", 1)
            state = await until(h, lambda: last(h).finished and last(h), "the end")
            assert state.outcome == "rook won the race against mika" and state.turn == ""
            assert state.actions == [] and state.move_id == ""
            finished = events(h, "finished")[0]
            assert finished.speak and finished.text == state.outcome
            assert finished.data["winners"] == ["rook"]
            turns: list[ConversationTurn] = h.messages("memory/turn")
            by_who = {t.persona or t.viewer: t for t in turns}
            assert set(by_who) == {"mika", "rook", "twitch:u1"}
            assert by_who["mika"].text.endswith(": rook won the race against mika")
            assert by_who["twitch:u1"].viewer == "twitch:u1" and "scored 3" in by_who[
                "twitch:u1"].text
            assert not save.exists()
            call(h, "rook", 1)  # no game now
            await h.settle()
            assert h.node.counters["tool_calls_no_game"] == 1


class TestChat:
    async def test_vote_window_latest_vote_counts_illegal_answered(
            self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(
                tmp_path, game=KIND, players={KIND: {"a": "chat", "b": "rook"}},
                vote_s=0.5, replies_per_window=1)) as h:
            await until(h, lambda: events(h, "vote_open"), "the vote to open")
            assert last(h).turn == "chat"
            h.feed("chat/message", command_line("move", "!move 1", user="ann"))
            h.feed("chat/message", command_line("vote", "!vote 2", user="bob"))
            h.feed("chat/message", command_line("vote", "!vote 1", user="bob"))  # latest
            h.feed("chat/message", command_line("move", "!move 7", user="cat"))
            h.feed("chat/message", command_line("move", "!move 8", user="dan"))
            h.feed("chat/message", command_line("unrelated", "!move 1", user="eve"))
            result = await until(h, lambda: events(h, "vote_result"), "the vote result")
            assert result[0].text == "chat chose 1 (2 of 2 votes)" and result[0].speak
            assert result[0].data["illegal"] == 2
            state = await until(h, lambda: last(h).turn == "rook" and last(h), "rook's turn")
            assert state.moves == ["chat: +1"]
            says = h.messages("chat/say")
            assert len(says) == 1 and says[0].text.startswith("@cat '7' is not a legal")
            assert h.node.counters["vote_replies_held"] == 1
            race: Race = h.node.game  # type: ignore[assignment]
            assert race.ballots_seen == [{"twitch:ann": ("add", {"n": 1}),
                                          "twitch:bob": ("add", {"n": 1})}]

    async def test_nobody_votes_then_the_top_choice_is_played(self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(
                tmp_path, game=KIND, players={KIND: {"a": "chat", "b": "rook"}},
                vote_s=0.05, max_attempts=2)) as h:
            state = await until(h, lambda: last(h).turn == "rook" and last(h), "an auto move")
            assert state.moves == ["chat: +2"]
            assert [e.text for e in events(h, "vote_result")] == ["nobody voted"] * 2

    async def test_game_command_for_moderators_only(self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(tmp_path)) as h:
            await until(h, lambda: states(h), "the idle state")
            assert last(h).game == ""
            h.feed("chat/message", command_line("game", f"!game start {KIND}"))
            await h.settle()
            assert h.node.counters["game_command_denied"] == 1 and last(h).game == ""
            h.feed("chat/message", command_line("game", "!game start chekers", roles=["moderator"]))
            await h.settle()
            assert "unknown game 'chekers'" in h.messages("chat/say")[-1].text
            h.feed("chat/message", command_line("game", f"!game start {KIND}", roles=["broadcaster"]))
            await until(h, lambda: last(h).game == KIND, "the game to start")
            h.feed("chat/message", command_line("game", "!game stop", roles=["moderator"]))
            await until(h, lambda: last(h).game == "", "the game to stop")
            assert events(h, "stopped") and Race.closed >= 1
            assert not (tmp_path / "game" / "current.json").exists()


class TestResume:
    async def test_a_restart_resumes_the_same_game_at_the_same_ask(
            self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(tmp_path, game=KIND)) as h:
            await until(h, lambda: states(h), "a state")
            call(h, "mika", 1)
            before = await until(h, lambda: last(h).turn == "rook" and last(h), "rook's turn")
        # the node's close is not what saves it: every change was saved when it happened
        async with NodeHarness(GameNode, parameters=node_params(tmp_path)) as h:
            after = await until(h, lambda: states(h) and last(h), "the resumed state")
            assert (after.game_id, after.moves, after.move_id, after.turn) == (
                before.game_id, ["mika: +1"], before.move_id, "rook")
            assert events(h, "resumed") and h.node.counters["games_resumed"] == 1
            call(h, "rook", 2)  # the director's request for the ask made before the restart
            await until(h, lambda: last(h).turn == "mika", "mika's turn")

    async def test_a_corrupt_save_starts_fresh_and_says_so(self, tmp_path: Path) -> None:
        folder = tmp_path / "game"
        folder.mkdir()
        (folder / "current.json").write_text('{"kind": "race", "game_id": "g", "snap')
        async with NodeHarness(GameNode, parameters=node_params(tmp_path, game=KIND)) as h:
            state = await until(h, lambda: states(h) and last(h), "a fresh game")
            corrupt = events(h, "corrupt_save")
            assert corrupt and corrupt[0].speak and "not a saved game" in corrupt[0].data[
                "problem"]
            assert state.game == KIND and state.moves == [] and state.game_id != "g"
            aside = list(folder.glob("current.bad-*.json"))
            assert len(aside) == 1 and aside[0].read_text().endswith('"snap')

    async def test_a_save_the_game_cannot_restore_is_set_aside(self, tmp_path: Path) -> None:
        folder = tmp_path / "game"
        folder.mkdir()
        (folder / "current.json").write_text(json.dumps(
            {"kind": KIND, "game_id": "g", "snapshot": {"players": {"x": "y"}}}))
        async with NodeHarness(GameNode, parameters=node_params(tmp_path)) as h:
            await until(h, lambda: events(h, "corrupt_save"), "the corrupt_save event")
            assert "does not restore" in events(h, "corrupt_save")[0].data["problem"]
            assert last(h).game == "" and h.node.counters["corrupt_saves"] == 1


class TestParameters:
    async def _set(self, h: NodeHarness, **values: Any) -> tuple[bool, str]:
        reply = await h.call("game/set_parameters", ParamSetRequest(values=values))
        return reply.successful, reply.reason

    async def test_setting_game_starts_and_stops_one(self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(tmp_path)) as h:
            await until(h, lambda: states(h), "the idle state")
            assert await self._set(h, game=KIND) == (True, "")
            await until(h, lambda: last(h).game == KIND, "the game to start")
            assert await self._set(h, game="") == (True, "")
            await until(h, lambda: last(h).game == "", "the game to stop")

    async def test_vote_s_is_read_when_a_window_opens(self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(
                tmp_path, players={KIND: {"a": "chat", "b": "rook"}}, vote_s=600)) as h:
            await until(h, lambda: states(h), "the idle state")
            assert await self._set(h, vote_s=0.05, game=KIND) == (True, "")
            await until(h, lambda: events(h, "vote_result"), "the short window to close")

    async def test_refusals(self, tmp_path: Path) -> None:
        async with NodeHarness(GameNode, parameters=node_params(tmp_path)) as h:
            ok, reason = await self._set(h, state_dir="/elsewhere")
            assert not ok and reason.startswith("state_dir is read at start")
            ok, reason = await self._set(h, game="chekers")
            assert not ok and "unknown game 'chekers'; games: tictactoe" in reason
            ok, reason = await self._set(h, settings={KIND: {"target": "far"}})
            assert not ok and "game 'race' settings" in reason and "target" in reason
            assert h.node.params.settings == {}  # nothing changed

    async def test_an_unknown_kind_is_refused_at_start(self, tmp_path: Path) -> None:
        with pytest.raises(ParameterError, match="unknown game 'chekers'"):
            GameNode(options=NodeOptions(bus="ipc:///tmp/vt-unused-game",
                                         parameters=node_params(tmp_path, game="chekers")))

    def test_the_launch_check_refuses_a_bad_value(self) -> None:
        with pytest.raises(ParameterError, match="parameter 'vote_s' expects"):
            check_values(Params, {"vote_s": 0}, node="game")
        with pytest.raises(ParameterError, match="parameter 'max_attempts' expects"):
            check_values(Params, {"max_attempts": "many"}, node="game")




async def test_a_vote_close_dropped_by_a_full_queue_is_queued_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood that fills the job queue drops its oldest job: a vote close lost that way is
    queued again instead of leaving the window closed for good."""
    async with NodeHarness(GameNode, parameters=node_params(
            tmp_path, game=KIND, players={KIND: {"a": "chat", "b": "rook"}},
            vote_s=0.05)) as h:
        node: GameNode = h.node  # type: ignore[assignment]
        await until(h, lambda: events(h, "vote_open"), "the vote to open")
        await node.jobs.stop()  # nothing runs: the close stays queued
        await wait_until(lambda: len(node.jobs) > 0, 5.0, what="the close to be queued")
        node.jobs.clear()  # as a full queue drops its oldest job
        monkeypatch.setattr("nodes.game.node.REQUEUE_S", 0.0)
        node.jobs.start()
        await until(h, lambda: events(h, "vote_result"), "the close queued again")
