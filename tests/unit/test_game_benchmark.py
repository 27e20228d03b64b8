"""The game benchmark's bookkeeping (benchmarks/game.py): which move a request, a call and a
``moved`` event belong to, when the floor was free, which calls fit their tool, the first
tries, and the games played. Pure: fed messages by hand, with made-up stamps."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# benchmarks/ is a folder of scripts: the repo goes first so `benchmarks.game` imports
sys.path.insert(0, str(ROOT))

from benchmarks.game import Seen, call_figures, move_log, played_games  # noqa: E402
from messages.audio import AudioChunk, Playhead  # noqa: E402
from messages.game import GameEvent, GameState  # noqa: E402
from messages.llm import ChatTurn, LlmRequest, ToolCall, ToolSpec  # noqa: E402

MS = 1_000_000
CELL = {"type": "object", "properties": {"cell": {"type": "integer", "enum": [5, 1]}},
        "required": ["cell"]}


class Run:
    """Messages of a run in the order they were published, one millisecond apart."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def at(self, ms: int, topic: str, msg: Any) -> None:
        self.seen.append(Seen(topic, ms * MS, msg))

    def ask(self, ms: int, move_id: str, turn: str, attempt: int = 0, *,
            moves: list[str] | None = None) -> None:
        """The game asks ``turn`` for a move after ``moves``."""
        self.at(ms, "game/state", GameState(game="tictactoe", game_id="g1", turn=turn,
                                            move_id=move_id, attempt=attempt,
                                            moves=moves or []))

    def request(self, ms: int, request_id: str, persona: str, *, tools: bool = True,
                prefill: bool = False, said: str = "") -> None:
        self.at(ms, "llm/request", LlmRequest(
            request_id=request_id, persona=persona, prefill=prefill,
            messages=[ChatTurn(role="user", content=said or "your move")],
            tools=[ToolSpec(name="place", parameters=CELL)] if tools else []))

    def call(self, ms: int, request_id: str, persona: str, cell: Any, name: str = "place"
             ) -> None:
        self.at(ms, "llm/tool_call", ToolCall(request_id=request_id, persona=persona,
                                              call_id=f"c{ms}", name=name,
                                              arguments={"cell": cell}))

    def event(self, ms: int, event: str, persona: str = "", text: str = "") -> None:
        self.at(ms, "game/event", GameEvent(game="tictactoe", event=event, persona=persona,
                                            game_id="g1", text=text))

    def heard(self, ms: int, request_id: str, persona: str = "mika") -> None:
        self.at(ms, "audio/playhead", Playhead(persona=persona, request_id=request_id,
                                               sentence_index=0, sample=100,
                                               sample_rate=16000, state="finished"))

    def voiced(self, ms: int, request_id: str, persona: str = "mika") -> None:
        self.at(ms, "tts/audio", AudioChunk(persona=persona, request_id=request_id,
                                            sentence_index=0, chunk_index=0, pcm=b"\0\0",
                                            sample_rate=16000, text="hi", last=True))


def test_a_move_is_timed_from_its_ask_or_the_end_of_the_turn_that_held_the_floor() -> None:
    run = Run()
    run.ask(0, "m1", "mika")
    run.request(2, "m1/a", "mika")
    run.call(3, "m1/a", "mika", 5)
    run.event(4, "moved", "mika")
    run.ask(5, "m2", "rook", moves=["X 5"])  # mika's line still plays: free at 40
    run.heard(40, "m1/a")
    run.request(41, "m2/a", "rook")
    run.call(42, "m2/a", "rook", 1)
    run.event(44, "moved", "rook")

    first, second = move_log(run.seen)
    assert (first.persona, first.ready_ns, first.decision_ms) == ("mika", 0, 4.0)
    assert (second.persona, second.ready_ns, second.decision_ms) == ("rook", 40 * MS, 4.0)
    assert first.valid and second.valid


def test_other_turns_and_prefills_belong_to_no_move() -> None:
    run = Run()
    run.ask(0, "m1", "mika")
    run.request(1, "r-start", "rook", tools=False, said="a game starts")  # the spoken start
    run.request(2, "r-pre", "mika", prefill=True)
    run.heard(10, "r-start", "rook")
    run.request(11, "m1/a", "mika")
    run.call(12, "m1/a", "mika", 5)
    run.event(13, "moved", "mika")

    (move,) = move_log(run.seen)
    assert move.request is not None and move.request.request_id == "m1/a"
    assert move.ready_ns == 10 * MS and move.decision_ms == 3.0


def test_a_refused_call_is_no_first_try_and_the_retry_is_counted_apart() -> None:
    run = Run()
    run.ask(0, "m1", "mika")
    run.request(1, "m1/a", "mika")
    run.call(2, "m1/a", "mika", 1)  # the game refuses it (someone took 1)
    run.event(3, "invalid", "mika")
    run.ask(4, "m2", "mika", attempt=1)
    run.request(5, "m2/a", "mika")
    run.call(6, "m2/a", "mika", 5)
    run.event(7, "moved", "mika")

    first, retry = move_log(run.seen)
    assert first.refused and not first.applied_ns and first.valid
    assert retry.attempt == 1 and retry.applied_ns == 7 * MS
    assert call_figures([first, retry]) == {
        "positions": 1, "move_requests": 2, "valid_call_pct": 100.0,
        "legal_first_try_pct": 0.0}


def test_calls_outside_the_schema_or_missing_are_not_valid_and_auto_moves_not_first_tries(
) -> None:
    run = Run()
    run.ask(0, "m1", "mika")
    run.request(1, "m1/a", "mika")
    run.call(2, "m1/a", "mika", 9)  # not in the enum
    run.ask(10, "m2", "mika", attempt=1)
    run.request(11, "m2/a", "mika")
    run.call(12, "m2/a", "mika", 5, name="drop")  # no such tool
    run.ask(20, "m3", "mika", attempt=2)
    run.request(21, "m3/a", "mika")  # no call at all: the game times out and plays for her
    run.event(30, "moved", "mika")
    run.event(30, "auto_move", "mika")
    run.ask(40, "m4", "rook", moves=["X 5"])
    run.call(41, "m4/x", "rook", 5)  # a call for a move never asked is nobody's

    moves = move_log(run.seen)
    assert [(m.move_id, m.valid, bool(m.applied_ns)) for m in moves] == [
        ("m1", False, False), ("m2", False, False), ("m3", False, False),
        ("m4", False, False)]
    # three tries at one position, then an auto move: 0 of 1 position at the first try
    assert call_figures(moves) == {"positions": 1, "move_requests": 3, "valid_call_pct": 0.0,
                                   "legal_first_try_pct": 0.0}


def test_a_move_that_timed_out_before_it_was_asked_leaves_its_position_to_the_next_ask(
) -> None:
    run = Run()
    run.ask(0, "m1", "mika")  # the floor is busy past the game's move timeout
    run.ask(90, "m2", "mika", attempt=1)
    run.request(91, "m2/a", "mika")
    run.call(92, "m2/a", "mika", 5)
    run.event(93, "moved", "mika")

    moves = move_log(run.seen)
    assert [m.request is not None for m in moves] == [False, True]
    assert call_figures(moves) == {"positions": 1, "move_requests": 1, "valid_call_pct": 100.0,
                                   "legal_first_try_pct": 100.0}


def test_a_stale_call_or_another_personas_event_does_not_apply_the_current_move() -> None:
    run = Run()
    run.ask(0, "m1", "mika")
    run.request(1, "m1/a", "mika")
    run.call(2, "m1/a", "mika", 5)
    run.call(3, "m1/b", "mika", 1)  # a second call for the same move: the first counts
    run.event(4, "moved", "rook")  # not the mover
    run.event(5, "moved", "mika")

    (move,) = move_log(run.seen)
    assert move.call is not None and move.call.arguments == {"cell": 5}
    assert move.applied_ns == 5 * MS


def test_games_played_are_timed_from_start_to_finish_and_to_the_outcome_heard() -> None:
    run = Run()
    run.event(0, "started", text="a game of tictactoe starts")
    run.ask(1, "m1", "mika")
    run.request(2, "m1/a", "mika")
    run.call(3, "m1/a", "mika", 5)
    run.event(4, "moved", "mika")
    run.voiced(5, "m1/a")
    run.ask(6, "m2", "rook", moves=["X 5"])
    run.request(7, "m2/a", "rook")  # rook's line is never voiced
    run.call(8, "m2/a", "rook", 1)
    run.event(9, "moved", "rook")
    run.at(1000, "game/state", GameState(game="tictactoe", game_id="g1", finished=True,
                                         outcome="rook won", moves=["X 5", "O 1"]))
    run.event(1000, "finished", text="rook won")
    run.request(1001, "r-out", "mika", tools=False, said="Say: rook won")
    run.heard(2500, "r-out")

    (game,) = played_games(run.seen, move_log(run.seen))
    assert (game.outcome, game.moves, game.game_s, game.heard_s) == (
        "rook won", ["X 5", "O 1"], 1.0, 2.5)
    assert (game.move_turns, game.move_turns_spoken) == (2, 1)


def test_a_game_not_finished_is_not_reported() -> None:
    run = Run()
    run.event(0, "started")
    run.ask(1, "m1", "mika")
    assert played_games(run.seen, move_log(run.seen)) == []
