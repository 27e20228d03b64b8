"""nodes.game.votes: chat's vote window on a fake clock: one vote per viewer (the latest
counts), only legal choices count, illegal ones refused with a reason, floods bounded,
majority with ties broken by the game's ranking."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from messages.game import ActionOption, GameAction
from nodes.game.votes import Choice, Refused, VoteWindow, Voting, choice_of, ranked_options


def place(cells: list[int], scores: list[float] | None = None) -> GameAction:
    """A tic-tac-toe-like action: ``cells`` legal, ranked in the order given."""
    scores = scores or [float(len(cells) - i) for i in range(len(cells))]
    return GameAction(name="place",
                      schema={"type": "object", "properties": {
                          "cell": {"type": "integer", "enum": cells}}},
                      options=[ActionOption(arguments={"cell": c}, score=s)
                               for c, s in zip(cells, scores, strict=True)])


FREE_TEXT = GameAction(name="answer", schema={
    "type": "object", "properties": {"answer": {"type": "string", "maxLength": 20}}})


def window(actions: list[GameAction], *, max_voters: int = 100,
           normalize: Any = None) -> VoteWindow:
    return VoteWindow(actions, opened_at=100.0, duration_s=30.0, max_voters=max_voters,
                      normalize=normalize)


class TestChoices:
    # what a viewer writes -> the call it votes for
    @pytest.mark.parametrize(("text", "arguments"), [
        ("5", {"cell": 5}),            # the value alone
        ("  5 ", {"cell": 5}),         # spaces
        ("place 5", {"cell": 5}),      # action name and value
        ("PLACE 5", {"cell": 5}),      # any case
    ])
    def test_listed_options(self, text: str, arguments: dict[str, Any]) -> None:
        found = choice_of(text, [place([5, 1, 9])])
        assert isinstance(found, Choice)
        assert (found.name, found.arguments) == ("place", arguments)

    @pytest.mark.parametrize("text", ["4", "place 4", "ten", "", "5 5"])
    def test_illegal_is_refused_with_legal_choices(self, text: str) -> None:
        found = choice_of(text, [place([5, 1, 9])])
        assert isinstance(found, Refused)
        assert "legal: 5, 1, 9" in found.reason

    def test_a_long_list_is_cut_in_the_reason(self) -> None:
        found = choice_of("x", [place(list(range(1, 30)))])
        assert isinstance(found, Refused)
        assert found.reason.endswith("8, ...")

    def test_free_value_checked_against_the_schema(self) -> None:
        voting = Voting([FREE_TEXT])
        found = voting.choice_of("paris")
        assert isinstance(found, Choice) and found.arguments == {"answer": "paris"}
        refused = voting.choice_of("x" * 50)
        assert isinstance(refused, Refused) and "not a legal answer" in refused.reason

    def test_normalize_maps_another_spelling_onto_a_listed_option(self) -> None:
        move = GameAction(name="move", schema={"type": "object", "properties": {
            "move": {"type": "string", "enum": ["e4", "d4"]}}},
            options=[ActionOption(arguments={"move": "e4"}), ActionOption(arguments={"move": "d4"})])

        def normalize(name: str, arguments: dict[str, Any]) -> object:
            if arguments["move"] == "boom":
                raise ValueError("unreadable")
            return {"move": {"e2e4": "e4"}.get(arguments["move"], arguments["move"])}

        voting = Voting([move], normalize)
        found = voting.choice_of("e2e4")
        assert isinstance(found, Choice) and found.arguments == {"move": "e4"}
        assert isinstance(voting.choice_of("boom"), Refused)  # the game could not read it

    def test_ranking_by_score_then_the_games_order(self) -> None:
        action = place([1, 2, 3], scores=[1.0, 5.0, 1.0])
        assert [o.arguments["cell"] for _, o in ranked_options([action])] == [2, 1, 3]


class TestWindow:
    def test_latest_vote_of_a_viewer_counts(self) -> None:
        w = window([place([5, 1, 9])])
        assert w.cast("twitch:a", "5", 101).outcome == "counted"
        assert w.cast("twitch:a", "5", 102).outcome == "same"
        assert w.cast("twitch:a", "1", 103).outcome == "changed"
        assert w.cast("twitch:b", "1", 104).outcome == "counted"
        result = w.result()
        assert [(c.label, n) for c, n in result.counts] == [("1", 2)]
        assert (result.voters, result.changed) == (2, 1)
        assert result.summary() == "chat chose 1 (2 of 2 votes)"

    def test_illegal_vote_is_counted_and_keeps_the_earlier_one(self) -> None:
        w = window([place([5, 1, 9])])
        w.cast("twitch:a", "9", 101)
        cast = w.cast("twitch:a", "7", 102)
        assert cast.outcome == "illegal" and "'7' is not a legal choice" in cast.reason
        result = w.result()
        assert result.illegal == 1 and result.winner is not None
        assert result.winner.arguments == {"cell": 9}

    def test_closed_window_takes_no_vote(self) -> None:
        w = window([place([5])])
        assert w.is_open(129.9) and not w.is_open(130.0)
        assert w.cast("twitch:a", "5", 130.0).outcome == "closed"
        assert w.result().winner is None and w.result().summary() == "nobody voted"

    def test_tie_goes_to_the_games_ranking(self) -> None:
        w = window([place([5, 1, 9])])  # 5 ranked best, then 1, then 9
        w.cast("twitch:a", "9", 101)
        w.cast("twitch:b", "1", 101)
        w.cast("twitch:c", "5", 101)
        w.cast("twitch:d", "9", 101)
        w.cast("twitch:e", "1", 101)
        result = w.result()
        assert [(c.label, n) for c, n in result.counts] == [("1", 2), ("9", 2), ("5", 1)]

    def test_result_data_for_the_event(self) -> None:
        w = window([place([5, 1])])
        w.cast("twitch:a", "5", 101)
        w.cast("twitch:b", "x", 101)
        data = w.result().data()
        assert data == {"counts": {"5": 1}, "choices": 1, "voters": 1, "winner": "5",
                        "illegal": 1, "turned_away": 0, "changed": 0}

    def test_ballots_per_viewer(self) -> None:
        w = window([FREE_TEXT])
        w.cast("twitch:a", "paris", 101)
        w.cast("youtube:b", "rome", 101)
        assert {v: c.arguments["answer"] for v, c in w.ballots().items()} == {
            "twitch:a": "paris", "youtube:b": "rome"}


class TestFlood:
    def test_100k_viewers_keep_memory_bounded(self) -> None:
        """A raid of 100k new accounts: the window remembers max_voters of them, counts the
        rest, and its memory stays what max_voters allows."""
        w = window([place([5, 1, 9])], max_voters=1000)
        for i in range(1000):
            w.cast(f"twitch:{i}", "5", 101)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000, 101_000):
            w.cast(f"twitch:{i}", "1", 101)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        result = w.result()
        assert (result.voters, result.turned_away) == (1000, 100_000)
        assert result.winner is not None and result.winner.arguments == {"cell": 5}
        assert grown < 200_000, f"the window grew {grown} bytes under the flood"

    def test_a_flood_of_distinct_free_answers_is_bounded_by_voters(self) -> None:
        w = window([FREE_TEXT], max_voters=50)
        for i in range(5000):
            w.cast(f"twitch:{i}", f"answer{i}", 101)
        result = w.result()
        assert len(result.counts) == 50 and result.turned_away == 4950
        assert len(result.data()["counts"]) == 10

    @settings(max_examples=300, derandomize=True, print_blob=True, deadline=None)
    @seed(16)
    @given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(["5", "1", "9", "x", "7"])),
                    max_size=200))
    def test_counts_always_match_the_latest_legal_ballots(
            self, votes: list[tuple[int, str]]) -> None:
        w = window([place([5, 1, 9])], max_voters=10)
        latest: dict[str, str] = {}
        for voter, text in votes:
            outcome = w.cast(f"v{voter}", text, 101).outcome
            if outcome in ("counted", "changed", "same"):
                latest[f"v{voter}"] = text
        result = w.result()
        assert len(latest) <= 10
        assert sum(n for _, n in result.counts) == result.voters == len(latest)
        expected: dict[str, int] = {}
        for text in latest.values():
            expected[text] = expected.get(text, 0) + 1
        assert {c.label: n for c, n in result.counts} == expected
