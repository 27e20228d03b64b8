"""Game turns in the director's state machine, on a fake clock: a persona's move asked with
the game's actions as tools, retries, where moves and comments stand against the human and
chat, spoken events bounded, stale moves dropped, the game stopped (`nodes.director.games`)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from helpers.director import Show, chat
from hypothesis import example, given, seed, settings
from hypothesis import strategies as st

from bus.errors import ParameterError
from bus.params import check_values
from bus.testing import NodeHarness, wait_until
from messages.game import ActionOption, GameAction, GameEvent, GameState
from messages.llm import LlmDone, LlmRequest, ToolCall, ToolSpec
from messages.system import ParamSetRequest
from nodes.director.decisions import (
    ActiveTurn,
    Announce,
    Count,
    Log,
    MoveAsk,
    Stop,
    WakeIn,
    Wanted,
)
from nodes.director.games import GameTable, move_prompt
from nodes.director.node import Director
from nodes.director.params import Params

SCHEMA = {"type": "object", "properties": {"cell": {"type": "integer", "enum": [1, 5, 9]}},
          "required": ["cell"]}
PLACE = GameAction(name="place", description="put your mark in a free cell", schema=SCHEMA,
                   options=[ActionOption(arguments={"cell": 5}, note="centre", score=2.0),
                            ActionOption(arguments={"cell": 1}, note="a corner", score=1.0),
                            ActionOption(arguments={"cell": 9})])
TICTACTOE = {"X": "mika", "O": "rook"}


def state(ask: int = 1, turn: str = "mika", *, game: str = "tictactoe", game_id: str = "g1",
          players: dict[str, str] | None = None, **fields: Any) -> GameState:
    """A tic-tac-toe state asking ``turn`` for move ``GAME_ID.ASK``."""
    fields.setdefault("actions", [PLACE] if turn else [])
    return GameState(game=game, game_id=game_id, players=players or TICTACTOE, turn=turn,
                     text="X . .\n. . .\n. . O",
                     moves=["mika: X at 1", "rook: O at 9"],
                     move_id=f"{game_id}.{ask}" if turn else "", **fields)


def event(text: str, kind: str = "finished", *, speak: bool = True, persona: str = "",
          **data: Any) -> GameEvent:
    return GameEvent(game="tictactoe", event=kind, text=text, speak=speak, persona=persona,
                     data=data, game_id="g1")


def game_show(**rules: Any) -> Show:
    banter = rules.pop("banter_turns", 0)
    return Show(banter_turns=banter, games=GameTable(["mika", "rook"], **rules))


def moves_asked(show: Show) -> list[LlmRequest]:
    return [r for r in show.requests() if r.tools]


def whys(show: Show, *served: Any, rounds: int) -> list[str]:
    """``rounds`` decisions, each heard to the end: why each turn had the floor (``served``:
    what chat/next answers, one per decision that asks it, else nothing)."""
    answers = list(served)
    out = []
    for _ in range(rounds):
        pick = show.turns.pick(show.now)
        if pick is Wanted.CHAT:
            pick = show.turns.chat_chosen(answers.pop(0) if answers else None, show.now)
        turn = show.ask(show.begin(pick))
        if turn is None:
            out.append("-")
            continue
        out.append(turn.plan.why)
        show.heard(turn, "Fine.")
        if turn.plan.why == "move":  # the game applies the call and asks the other side
            show.at(show.now, show.turns.game_state(_next(show.turns.games.state)))
    return out


def _next(current: GameState | None) -> GameState:
    assert current is not None
    ask = int(current.move_id.rsplit(".", 1)[1]) + 1
    return state(ask, "rook" if current.turn == "mika" else "mika")


class TestAMove:
    def test_the_mover_is_asked_with_the_actions_as_tools_and_the_position(self) -> None:
        show = game_show()
        reply = show.chat_turn("go mika!", "m1")
        show.heard(reply, "Thanks!")
        show.at(1, show.turns.game_state(state()))
        turn = show.decide()
        assert turn is not None and (turn.plan.persona, turn.plan.why) == ("mika", "move")
        (request,) = moves_asked(show)
        assert request.request_id.startswith("g1.1/") and request.request_id == turn.request_id
        assert request.persona == "mika"
        assert request.tools == [ToolSpec(name="place", description="put your mark in a free cell",
                                          parameters=SCHEMA)]
        *conversation, prompt = request.messages
        assert [m.content for m in conversation] == ["ann: go mika!", "Thanks!"], \
            "the conversation comes with it: the persona's line fits the show"
        assert prompt.role == "user"
        for part in ("your move in tictactoe, playing X", "X . .\n. . .\n. . O",
                     "Moves so far: mika: X at 1; rook: O at 9.",
                     "Your choices, best first: 5 (centre); 1 (a corner); 9.",
                     "Make your move with the tool"):
            assert part in prompt.content
        assert "refused" not in prompt.content
        announced = show.of(Announce)[-1].turn
        assert (announced.speaker, announced.why, announced.request_id, announced.reply_to) == (
            "mika", "move", request.request_id, "g1.1")

    def test_the_spoken_line_plays_like_any_turn_and_the_move_is_asked_once(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        turn = show.decide()
        assert turn is not None
        show.heard(turn, "Centre is mine!")
        (said,) = show.remembered(turn.request_id)
        assert (said.persona, said.text) == ("mika", "Centre is mine!")
        assert show.decide() is None, "the same move_id is never asked twice"
        show.at(1, show.turns.game_state(state(1)))  # republished, same ask
        assert show.decide() is None

    def test_a_refused_call_is_asked_again_under_the_new_move_id_with_the_reason(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        first = show.decide()
        assert first is not None
        show.at(1, show.turns.done(LlmDone(request_id=first.request_id, persona="mika", text="",
                                           error="the model failed"), 1))
        assert Stop(first.request_id, "nothing was heard of it") in show.outs
        assert Log("mika's turn ended with nothing heard", logging.INFO) in show.outs, \
            "a move without a word is no fault"
        assert show.turns.free(1) and show.decide() is None, \
            "an unanswered move is the game node's to ask again"
        show.at(2, show.turns.game_state(state(2, attempt=1, last_error="cell 5 is taken.")))
        again = show.decide()
        assert again is not None
        retry = moves_asked(show)[-1]
        assert retry.request_id.startswith("g1.2/") and retry.persona == "mika"
        assert "Your last choice was refused: cell 5 is taken. Choose again." in \
            retry.messages[-1].content

    def test_only_a_persona_of_the_cast_is_asked(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state(turn="chat", players={"white": "chat",
                                                                     "black": "rook"})))
        assert show.decide() is None, "chat's move is its vote, at the game node"
        show.at(1, show.turns.game_state(state(2, actions=[])))
        assert show.decide() is None, "a move no call could answer"

    def test_prompt_of_several_actions_names_them(self) -> None:
        drop = GameAction(name="drop", schema={}, options=[ActionOption(
            arguments={"column": 3, "row": 2}, note="blocks", score=5)])
        prompt = move_prompt(GameState(game="connect4", actions=[PLACE, drop], turn="rook",
                                       move_id="g.1"), "rook")
        assert "Your choices, best first: drop column=3, row=2 (blocks); place 5 (centre);" \
            in prompt and "playing" not in prompt


class TestWhoGoesFirst:
    """human > deferred > a game's turn > chat > banter; chat may go between moves."""

    def test_the_human_then_the_game_and_chat_after_it_with_no_interleaving(self) -> None:
        show = game_show(chat_between=0)
        show.at(0, show.turns.chat(chat("hello", "m1"), None, 0))
        show.at(0, show.turns.game_state(state()))
        show.human("rook, nice game", start=0, stop=0.5)
        assert whys(show, chat("hello", "m1"), rounds=3) == ["human", "move", "move"]
        show.at(1, show.turns.game_state(state(9, "", finished=True, outcome="draw")))
        assert whys(show, chat("hello", "m1"), rounds=1) == ["chat"]

    def test_chat_waits_at_most_one_reply_between_moves(self) -> None:
        show = game_show(chat_between=1)
        show.at(0, show.turns.game_state(state()))
        lines = [chat(f"line {n}", f"m{n}") for n in range(4)]
        for line in lines:
            show.at(0, show.turns.chat(line, None, 0))
        assert whys(show, *lines, rounds=8) == ["chat", "move", "chat", "move", "chat", "move",
                                                "chat", "move"]

    def test_with_chat_quiet_the_moves_go_back_to_back(self) -> None:
        show = game_show(chat_between=1)
        show.at(0, show.turns.game_state(state()))
        assert whys(show, rounds=3) == ["move", "move", "move"]
        assert [r.persona for r in moves_asked(show)] == ["mika", "rook", "mika"]

    def test_a_move_goes_before_banter(self) -> None:
        show = game_show(banter_turns=2)
        show.at(0, show.turns.chat(chat("hello", "m1"), None, 0))
        assert whys(show, chat("hello", "m1"), rounds=1) == ["chat"]
        show.at(1, show.turns.game_state(state()))
        assert whys(show, rounds=2) == ["move", "move"]
        show.at(2, show.turns.game_state(state(9, "", finished=True, outcome="draw")))
        assert whys(show, rounds=1) == ["banter"], "banter once the game wants nothing"

    def test_a_move_is_not_cut_by_chat_but_the_human_gets_it_asked_again_once(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        move = show.decide()
        assert move is not None
        for line in (chat("mika, hi", "m1"), chat("$5", "m2", kind="superchat")):
            assert not show.at(0, show.turns.chat(line, None, 0)), "a move is never cut by chat"
        show.at(1, show.turns.human_started(1))
        assert show.stopped() == [move.request_id]
        show.human_stops("hold on", stop=1.5)
        human = show.decide()
        assert human is not None and human.plan.why == "human"
        show.heard(human, "Sure.")
        again = show.decide()
        assert again is not None and again.plan.why == "move"
        assert again.request_id.startswith("g1.1/") and again.request_id != move.request_id
        show.at(2, show.turns.human_started(2))  # cut a second time: the game node's timeout
        show.human_stops("sorry", stop=2.5)
        assert whys(show, rounds=2) == ["human", "-"]

    def test_a_move_the_human_cut_before_its_request_is_asked_once_after_them(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        turn = show.begin(show.turns.pick(0))
        assert turn is not None
        show.at(0.1, show.turns.human_started(0.1))  # while the node fetched memories
        show.ask(turn)
        assert not show.requests(), "put off: asked after the human"
        show.human_stops("go on", stop=0.5)
        human = show.decide()
        assert human is not None and human.plan.why == "human"
        show.heard(human, "Sure.")
        move = show.decide()
        assert move is not None and move.request_id.startswith("g1.1/")
        show.at(1, show.turns.done(LlmDone(request_id=move.request_id, persona="mika", text="",
                                           error="failed"), 1))
        assert show.decide() is None and len(moves_asked(show)) == 1, \
            "asked once: the retry is the game node's"

    def test_a_move_whose_call_came_is_not_asked_again_after_a_cut(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        move = show.decide()
        assert move is not None
        show.turns.tool_call(ToolCall(request_id=move.request_id, persona="mika", call_id="c1",
                                      name="place", arguments={"cell": 5}))
        show.at(1, show.turns.human_started(1))
        show.human_stops("nice", stop=1.5)
        assert whys(show, rounds=2) == ["human", "-"]


class TestAGameThatTakesChat:
    """Minecraft takes "Mika, come to me" as a request its move answers: the line is held a
    moment for the game, and the line it took gets no chat reply of its own."""

    @staticmethod
    def hearing(ask: int = 1, turn: str = "", asks: tuple[str, ...] = ()) -> GameState:
        return state(ask, turn, game="minecraft", players={"mika": "mika", "rook": "rook"},
                     hears_chat=True, asks=list(asks))

    def test_a_line_the_game_takes_is_answered_by_the_move_only(self) -> None:
        show = game_show(claim_s=0.5)
        show.at(0, show.turns.game_state(self.hearing()))
        line = chat("mika, come to me", "m1")
        outs = show.at(0, show.turns.chat(line, None, 0))
        assert [o.seconds for o in outs if isinstance(o, WakeIn)] == [0.5]
        assert show.turns.pick(0.1) is None, "held for the game, and no banter meanwhile"
        show.at(0.1, show.turns.game_state(self.hearing(2, "mika", asks=("m1",))))
        move = show.decide()
        assert move is not None and move.plan.why == "move"
        show.heard(move, "On my way!")
        show.at(1, show.turns.game_state(self.hearing(3, "", asks=("m1",))))
        assert show.decide(line) is None and show.chat_asked == 1, \
            "the chat node's copy of the line is dropped when chat's turn comes"
        assert [r.persona for r in show.requests()] == ["mika"]

    def test_a_line_the_game_does_not_take_is_answered_after_the_hold(self) -> None:
        show = game_show(claim_s=0.5)
        show.at(0, show.turns.game_state(self.hearing()))
        line = chat("mika you sound happy", "m1")
        show.at(0, show.turns.chat(line, None, 0))
        assert show.turns.pick(0.2) is None
        assert show.turns.pick(0.6) is Wanted.CHAT

    def test_a_game_that_does_not_take_chat_holds_nothing(self) -> None:
        show = game_show(claim_s=0.5)
        show.at(0, show.turns.game_state(state()))
        outs = show.at(0, show.turns.chat(chat("mika, come to me", "m1"), None, 0))
        assert not [o for o in outs if isinstance(o, WakeIn)]
        assert not show.turns.games.holding(0)

    def test_held_lines_are_bounded(self) -> None:
        table = GameTable(["mika"], claim_s=1.0)
        table.state_changed(self.hearing())
        for n in range(500):
            table.hold(f"m{n}", 0)
        assert len(table.held) <= 64 and table.holding(0.5) and not table.holding(2)


class TestComments:
    def test_an_event_is_said_by_the_persona_it_names_without_tools(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_event(event("rook ran out of tries: O at 5", "auto_move",
                                               persona="rook"), 0))
        turn = show.decide()
        assert turn is not None and (turn.plan.persona, turn.plan.why) == ("rook", "game")
        (request,) = show.requests()
        assert not request.tools
        assert request.messages[-1].content == (
            "(In the tictactoe game. Tell chat about it in your own words, in a sentence or "
            "two: rook ran out of tries: O at 5)")

    @pytest.mark.parametrize(("players", "data", "speaker"), [
        ({"X": "mika", "O": "rook"}, {"persona": "rook"}, "rook"),  # the Neuro server's way
        ({"host": "rook", "cohost": "mika", "players": "chat"}, {}, "rook"),  # trivia's host
        ({"white": "chat", "black": "rook"}, {}, "mika"),  # a spectator commentates
        ({"X": "mika", "O": "rook"}, {"persona": "chat"}, "mika"),  # anyone: whose turn to talk
    ])
    def test_who_says_an_event(self, players: dict[str, str], data: dict[str, str],
                               speaker: str) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state(turn="", players=players)))
        show.at(0, show.turns.game_event(event("it happened", "question", **data), 0))
        turn = show.decide()
        assert turn is not None and turn.plan.persona == speaker
        assert "Read this out to chat, with every choice: it happened" in \
            show.requests()[0].messages[-1].content

    def test_silent_events_are_not_said(self) -> None:
        show = game_show()
        for quiet in (event("mika: X at 5", "moved", speak=False), event("  ")):
            show.at(0, show.turns.game_event(quiet, 0))
        assert show.decide() is None

    def test_the_comment_goes_before_the_next_move(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        show.at(0, show.turns.game_event(event("a game of tictactoe starts", "started"), 0))
        assert whys(show, rounds=2) == ["game", "move"]

    def test_a_flood_keeps_the_newest_few(self) -> None:
        show = game_show(max_comments=3)
        for n in range(10):
            show.at(0, show.turns.game_event(event(f"news {n}", "context"), 0))
        assert show.of(Count).count(Count("game_comments_dropped")) == 7
        said = []
        while (turn := show.decide()) is not None:
            said.append(turn.plan.prompt)
            show.heard(turn, "Wow.")
        assert said == ["news 7", "news 8", "news 9"]

    def test_old_news_is_dropped(self) -> None:
        show = game_show(comment_max_s=60)
        show.at(0, show.turns.game_event(event("old news", "context"), 0))
        show.tick(30)
        assert not show.of(Count)
        show.tick(61)
        assert show.of(Count) == [Count("game_comments_dropped")] and show.decide() is None

    def test_comments_off(self) -> None:
        show = game_show(comments=False)
        show.at(0, show.turns.game_event(event("mika won"), 0))
        assert show.decide() is None


class TestStaleMoves:
    def test_a_move_put_off_for_the_human_and_then_played_is_dropped(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        pick = show.turns.pick(0)
        show.at(0, show.turns.human_started(0))  # before the turn began
        assert show.begin(pick) is None and len(show.turns.deferred) == 1
        show.at(0.5, show.turns.game_state(state(2, "rook")))  # moved on meanwhile
        assert Count("game_moves_stale") in show.outs and not show.turns.deferred
        show.human_stops("", stop=1)  # no words: the floor is back
        turn = show.decide()
        assert turn is not None and turn.request_id.startswith("g1.2/")
        assert [r.persona for r in moves_asked(show)] == ["rook"], "g1.1 was never asked"

    def test_a_move_played_while_its_turn_began_is_never_asked(self) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        turn = show.begin(show.turns.pick(0))
        assert turn is not None
        show.at(0.1, show.turns.game_state(state(2, "rook")))  # while memories were fetched
        show.ask(turn)
        assert not show.requests() and show.stopped() == [turn.request_id]
        assert show.turns.current is None and show.turns.free(0.1)
        assert Count("game_moves_stale") in show.outs

    @pytest.mark.parametrize("gone", [
        GameState(game=""),  # stopped
        state(9, "", finished=True, outcome="mika won against rook"),
    ])
    def test_a_game_that_goes_away_asks_nothing(self, gone: GameState) -> None:
        show = game_show()
        show.at(0, show.turns.game_state(state()))
        show.at(0, show.turns.human_started(0))
        assert show.begin(show.turns.pick(0)) is None  # put off for the human
        show.at(0.5, show.turns.game_state(gone))
        assert not show.turns.deferred
        show.human_stops("", stop=1)
        assert show.decide() is None and not show.requests()

    def test_game_moves_off(self) -> None:
        show = game_show(moves=False)
        show.at(0, show.turns.game_state(state()))
        assert show.decide() is None


class Fuzz:
    """A show driven by random steps; ``begin`` and ``ask`` apart, as the node's memory wait
    lets anything arrive between them. Counts each move_id's requests, and the asks the
    rules allow: one, and one more for each time the human cut its request."""

    def __init__(self) -> None:
        self.show = game_show()
        self.pending: ActiveTurn | None = None
        self.asked: dict[str, int] = {}
        self.allowed: dict[str, int] = {}

    def step(self, what: str, n: int, index: int) -> None:
        show = self.show
        now = show.now + 0.5
        show.at(now)
        before = len(moves_asked(show))
        current = show.turns.games.state
        if what == "state" and n % 4 == 0 and current is not None:
            show.at(now, show.turns.game_state(current))  # republished: the same ask
        elif what == "state":  # a new ask (move ids never come back)
            show.at(now, show.turns.game_state(state(index, ("mika", "rook", "")[n % 3])))
        elif what == "human":
            turn = show.turns.current
            if turn is not None and isinstance(turn.game, MoveAsk) and turn.request:
                self.allowed[turn.game.move_id] = self.allowed.get(turn.game.move_id, 1) + 1
            show.at(now, show.turns.human_started(now))
            show.human_stops("hey" if n % 2 else "", stop=now)
        elif what == "chat":
            show.at(now, show.turns.chat(chat("hi", f"m{n}"), None, now))
        elif what == "event":
            show.at(now, show.turns.game_event(event(f"news {n}", "context"), now))
        elif what == "begin" and self.pending is None:
            pick = show.turns.pick(now)
            if pick is Wanted.CHAT:
                pick = show.turns.chat_chosen(chat("hi", f"m{n}") if n % 2 else None, now)
            self.pending = show.begin(pick)
        elif what == "ask" and self.pending is not None:
            show.ask(self.pending)
            self.pending = None
        elif what == "finish" and show.turns.current is not None:
            show.heard(show.turns.current, "Done.")
        current = show.turns.games.state
        for request in moves_asked(show)[before:]:
            assert current is not None
            move_id = request.request_id.split("/")[0]
            assert (move_id, request.persona) == (current.move_id, current.turn)
            self.asked[move_id] = self.asked.get(move_id, 0) + 1


@settings(max_examples=400, derandomize=True, print_blob=True, deadline=None)
@seed(16)
@given(st.lists(st.tuples(st.sampled_from(["state", "human", "chat", "event", "begin", "begin",
                                           "ask", "ask", "finish"]),
                          st.integers(0, 20)), max_size=50))
@example([("state", 3), ("begin", 0), ("human", 1), ("ask", 0), ("begin", 0), ("ask", 0),
          ("finish", 0), ("begin", 0), ("ask", 0), ("finish", 0), ("begin", 0), ("ask", 0)])
def test_a_move_is_only_asked_while_the_state_asks_it(steps: list[tuple[str, int]]) -> None:
    """Whatever the order of states, the human, chat and events: every move request answers
    the state's move_id of the moment it went out, for the persona whose turn it is, and a
    move_id is asked once, and again only after the human cut its request (twice at most)."""
    fuzz = Fuzz()
    for index, (what, n) in enumerate(steps, 1):
        fuzz.step(what, n, index)
    for move_id, count in fuzz.asked.items():
        assert count <= min(2, fuzz.allowed.get(move_id, 1)), move_id


def test_the_turn_in_progress_is_left_alone_by_a_new_state() -> None:
    show = game_show()
    show.at(0, show.turns.game_state(state()))
    move = show.decide()
    assert isinstance(move, ActiveTurn)
    show.at(0.1, show.turns.game_state(state(2, "rook")))  # the call was applied
    assert show.turns.current is move and not show.stopped()
    show.heard(move, "There!")
    assert show.remembered(move.request_id)


class TestOnTheNode:
    """The director node on the harness (no sockets): game/state in, llm/request out."""

    async def test_a_state_with_mikas_turn_asks_her_with_tools(self) -> None:
        async with NodeHarness(Director, parameters={"quiet_s": 1000}) as harness:
            harness.feed("game/state", state())
            request = await _move_request(harness)
            assert request.request_id.startswith("g1.1/") and request.persona == "mika"
            assert [t.name for t in request.tools] == ["place"]
            assert request.tools[0].parameters == SCHEMA
            turns = harness.messages("director/turn")
            assert turns[-1].request_id == request.request_id and turns[-1].why == "move"

    async def test_game_moves_set_off_at_run_time_asks_no_move(self) -> None:
        async with NodeHarness(Director, parameters={"quiet_s": 1000}) as harness:
            reply = await harness.call("director/set_parameters",
                                       ParamSetRequest(values={"game_moves": False}))
            assert reply.successful
            harness.feed("game/state", state())
            await harness.settle()
            await harness.run_timers()  # a decision tick
            await harness.settle()
            assert not harness.messages("llm/request")
            reply = await harness.call("director/set_parameters",
                                       ParamSetRequest(values={"game_moves": True}))
            assert reply.successful
            await harness.run_timers()
            assert (await _move_request(harness)).persona == "mika"

    def test_the_launch_check_refuses_a_bad_value(self) -> None:
        with pytest.raises(ParameterError, match="chat_between_game_turns"):
            check_values(Params, {"chat_between_game_turns": -1}, node="director")


async def _move_request(harness: NodeHarness) -> LlmRequest:
    found = await wait_until(lambda: [r for r in harness.messages("llm/request") if r.tools],
                             10, what="the move's llm/request")
    return found[0]  # type: ignore[no-any-return]
