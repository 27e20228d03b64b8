"""nodes.game.moves: move ids, attempts, deadlines, which calls answer the current ask, and
the ranked calls played for a mover out of tries."""

from __future__ import annotations

import pytest

from messages.game import ActionOption, GameAction
from nodes.game.moves import Moves, answers, ranked_calls


class TestAnswers:
    # request id of the call, move id asked -> whether it answers
    @pytest.mark.parametrize(("request_id", "move_id", "expected"), [
        ("g1.3", "g1.3", True),
        ("g1.3/r42", "g1.3", True),
        ("g1.31", "g1.3", False),     # an older/newer ask sharing a prefix
        ("g1.2/r1", "g1.3", False),
        ("r42", "g1.3", False),       # a request about no move
        ("", "", False),              # nothing asked
    ])
    def test_rule(self, request_id: str, move_id: str, expected: bool) -> None:
        assert answers(request_id, move_id) is expected


class TestMoves:
    def test_every_ask_has_a_new_id(self) -> None:
        moves = Moves("g1")
        assert moves.move_id == ""  # nobody asked yet
        moves.new_move("mika", now=10.0)
        first = moves.move_id
        assert moves.check("mika", first) == "ok"
        assert moves.check("rook", first) == "not_mover"
        assert moves.failed("cell 5 is taken", now=11.0, max_attempts=3) is False
        assert moves.move_id != first and moves.check("mika", first) == "stale"
        assert (moves.attempt, moves.last_error) == (1, "cell 5 is taken")
        assert moves.failed("again", now=12.0, max_attempts=3) is False
        assert moves.failed("and again", now=13.0, max_attempts=3) is True  # out of tries
        moves.new_move("rook", now=14.0)
        assert (moves.attempt, moves.last_error, moves.mover) == (0, "", "rook")

    def test_deadline_counts_from_the_ask(self) -> None:
        moves = Moves("g1")
        assert not moves.overdue(1000.0, 5.0)  # nobody to wait for
        moves.new_move("mika", now=10.0)
        assert not moves.overdue(14.9, 5.0) and moves.overdue(15.0, 5.0)
        moves.resumed(now=100.0)  # a restart: the same ask, a fresh deadline
        assert not moves.overdue(104.0, 5.0)

    def test_nobody_to_move(self) -> None:
        moves = Moves("g1")
        moves.new_move("", now=1.0)
        assert moves.check("mika", "g1.1") == "no_move"


def test_ranked_calls_best_score_first_then_the_games_order() -> None:
    actions = [
        GameAction(name="place", options=[ActionOption(arguments={"cell": 5}, score=3.0),
                                          ActionOption(arguments={"cell": 1}, score=1.0)]),
        GameAction(name="pass", options=[ActionOption(arguments={}, score=3.0)]),
        GameAction(name="say"),  # no options: nothing to play for it
    ]
    assert ranked_calls(actions, 10) == [("place", {"cell": 5}), ("pass", {}),
                                         ("place", {"cell": 1})]
    assert ranked_calls(actions, 1) == [("place", {"cell": 5})]
