"""nodes.game.games.trivia: rounds (the host asks, chat's ballots score each viewer, the
majority closes), spoken events, the leaderboard, questions files, bounded tables, refusals
and snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.game_checks import apply_now, assert_options_fit, assert_refused, assert_restores
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.errors import PluginError
from nodes.game.games import GAMES, GameError, GameHooks
from nodes.game.games.trivia import BUNDLED_QUESTIONS, Trivia, TriviaSettings, load_questions

FUZZ = settings(max_examples=200, derandomize=True, print_blob=True, deadline=None)
PLAYERS = {"host": "mika", "cohost": "rook", "players": "chat"}
Event = tuple[str, str, dict[str, Any], bool]


def new_game(rounds: int = 3, seed: int = 7, **more: Any) -> tuple[Trivia, list[Event]]:
    heard: list[Event] = []
    hooks = GameHooks(event=lambda *event: heard.append(event))
    return Trivia(TriviaSettings(rounds=rounds, seed=seed, **more), PLAYERS, hooks), heard


def right_answer(game: Trivia) -> str:
    return str(game.snapshot()["questions"][game.view()["round"] - 1]["answer"])


def wrong_answer(game: Trivia) -> str:
    return next(letter for letter in "ABCD" if letter != right_answer(game))


def vote(game: Trivia, **answers: str) -> None:
    game.ballots({f"twitch:{viewer}": ("answer", {"choice": letter}) for viewer, letter in answers.items()})


class TestRounds:
    def test_a_round_asks_scores_and_announces(self) -> None:
        game, heard = new_game()
        assert game.turn() == "mika" and [a.name for a in game.actions()] == ["ask"]
        assert apply_now(game, "mika", "ask", {}).ok
        assert game.turn() == "chat" and [a.name for a in game.actions()] == ["answer"]
        event, text, data, speak = heard[-1]
        assert (event, speak, data["round"], data["host"]) == ("question", True, 1, "mika")
        assert text.startswith("Question 1 of 3") and "A: " in text and "D: " in text
        right = right_answer(game)
        vote(game, ann=right, bob=wrong_answer(game), cy=right.lower())
        result = apply_now(game, "chat", "answer", {"choice": right})
        assert result.ok and "the majority's answer, right" in result.message
        event, text, data, speak = heard[-1]
        assert (event, speak, data["answer"], data["right"]) == ("round", True, right,
                                                                ["twitch:ann", "twitch:cy"])
        assert "2 of 3 got it: ann, cy." in text
        assert game.turn() == "mika" and game.view()["leaderboard"][0]["score"] == 1

    def test_the_game_ends_with_the_leaderboard(self) -> None:
        game, _ = new_game(rounds=2)
        for _ in range(2):
            apply_now(game, "mika", "ask", {})
            vote(game, ann=right_answer(game), bob=wrong_answer(game))
            assert apply_now(game, "chat", "answer", {"choice": wrong_answer(game)}).ok
        outcome = game.outcome()
        assert outcome is not None and game.turn() == "" and game.actions() == []
        assert outcome.text == "ann won trivia with 2 of 2; scores: ann 2"
        assert (outcome.winners, outcome.scores) == (["twitch:ann"], {"twitch:ann": 2})

    def test_nobody_scoring_is_said(self) -> None:
        game, heard = new_game(rounds=1)
        apply_now(game, "mika", "ask", {})
        apply_now(game, "chat", "answer", {"choice": "A"})
        assert "nobody answered" in heard[-1][1]
        outcome = game.outcome()
        assert outcome is not None and outcome.text == "trivia is over: nobody scored"

    def test_the_latest_ballot_of_a_viewer_counts(self) -> None:
        game, heard = new_game(rounds=1)
        apply_now(game, "mika", "ask", {})
        vote(game, ann=wrong_answer(game))
        vote(game, ann=right_answer(game))
        apply_now(game, "chat", "answer", {"choice": "A"})
        assert heard[-1][2]["right"] == ["twitch:ann"]

    @pytest.mark.parametrize(
        "ballot",
        [
            ("vote", {"choice": "A"}),         # not an answer
            ("answer", {"choice": "Z"}),       # no such choice
            ("answer", {"letter": "A"}),
            ("answer", "A"),                   # arguments that are no object
            "A",                               # not (action, arguments) at all
        ],
    )
    def test_ballots_that_are_no_answer_are_not_counted(self, ballot: tuple[str, Any]) -> None:
        game, _ = new_game(rounds=1)
        apply_now(game, "mika", "ask", {})
        game.ballots({"twitch:ann": ballot, "twitch:bob": ("answer", {"choice": "A"})})
        assert game.snapshot()["answers"] == {"twitch:bob": "A"}

    def test_ballots_with_no_question_open_are_ignored(self) -> None:
        game, _ = new_game()
        vote(game, ann="A")
        assert game.snapshot()["answers"] == {}

    def test_new_viewers_past_the_bound_are_not_counted(self) -> None:
        game, _ = new_game(max_viewers=2)
        apply_now(game, "mika", "ask", {})
        vote(game, ann="A", bob="B", cy="C")
        vote(game, ann="C")  # a viewer already counted may change their answer
        assert game.snapshot()["answers"] == {"twitch:ann": "C", "twitch:bob": "B"}

    def test_the_answer_is_not_shown_while_the_question_is_open(self) -> None:
        game, _ = new_game(rounds=1)
        apply_now(game, "mika", "ask", {})
        text, view = game.describe(), game.view()
        assert "answer" not in json.dumps(view["last"]) and view["last"] == {}
        assert all(option.score == 0 for option in game.actions()[0].options)
        assert "Question 1 of 1" in text and "The answer" not in text

    def test_viewer_names_are_escaped(self) -> None:
        game, heard = new_game(rounds=1)
        apply_now(game, "mika", "ask", {})
        game.ballots({"twitch:\x1b[2Jeve\n": ("answer", {"choice": right_answer(game)})})
        apply_now(game, "chat", "answer", {"choice": "A"})
        assert "\\x1b[2Jeve\\n" in heard[-1][1] and "\x1b" not in heard[-1][1]


class TestQuestions:
    def test_the_bundled_set_loads(self) -> None:
        questions = load_questions(BUNDLED_QUESTIONS)
        assert len(questions) >= 50 and all(len(q.choices) == 4 for q in questions)
        assert len({q.question for q in questions}) == len(questions)

    def test_a_game_never_repeats_a_question(self) -> None:
        total = len(load_questions(BUNDLED_QUESTIONS))
        game, _ = new_game(rounds=total)
        asked = [q["question"] for q in game.snapshot()["questions"]]
        assert len(set(asked)) == total

    def test_a_seed_draws_the_same_questions_and_choices(self) -> None:
        assert new_game(seed=3)[0].snapshot() == new_game(seed=3)[0].snapshot()
        assert new_game(seed=3)[0].snapshot() != new_game(seed=4)[0].snapshot()

    def test_the_shuffled_choices_keep_the_right_answer(self) -> None:
        by_text = {q.question: q for q in load_questions(BUNDLED_QUESTIONS)}
        for saved in new_game(rounds=20)[0].snapshot()["questions"]:
            original = by_text[saved["question"]]
            right = saved["choices"]["ABCD".index(saved["answer"])]
            assert right == original.choices["ABCD".index(original.answer)]

    @pytest.mark.parametrize(
        ("content", "rounds", "match"),
        [
            ("not json", 1, r"trivia questions .*JSON"),
            ('[{"question": "q", "choices": ["a", "b"], "answer": "C"}]', 1,
             r"question 1: answer 'C' is not one of A, B"),
            ('[{"question": "q", "choices": ["a", "a"], "answer": "A"}]', 1, r"two choices are the same"),
            ('[{"question": "q", "choices": ["a"], "answer": "A"}]', 1, r"length >= 2"),
            ('[{"question": "q", "choices": ["a", "b"], "answer": "A", "hint": "x"}]', 1,
             r"unknown field `hint`"),
            ('[{"question": "q", "choices": ["a", "b"], "answer": "A"}]', 2,
             r"2 rounds but only 1 questions"),
        ],
    )
    def test_a_bad_questions_file_is_a_game_error(self, tmp_path: Path, content: str, rounds: int,
                                                  match: str) -> None:
        path = tmp_path / "q.json"
        path.write_text(content)
        with pytest.raises(GameError, match=match):
            Trivia(TriviaSettings(rounds=rounds, questions=str(path)), PLAYERS)

    def test_a_questions_file_of_ones_own(self, tmp_path: Path) -> None:
        path = tmp_path / "q.json"
        path.write_text('[{"question": "Two plus two?", "choices": ["3", "4"], "answer": "B"}]')
        game = Trivia(TriviaSettings(rounds=1, questions=str(path)), PLAYERS)
        apply_now(game, "mika", "ask", {})
        assert game.view()["question"] == "Two plus two?"

    def test_a_missing_file_is_a_game_error(self, tmp_path: Path) -> None:
        with pytest.raises(GameError, match=r"trivia questions .*nope.json"):
            Trivia(TriviaSettings(questions=str(tmp_path / "nope.json")), PLAYERS)

    def test_registry_settings_are_checked(self) -> None:
        with pytest.raises(PluginError, match=r"rounds"):
            GAMES.load("trivia", {"rounds": 0}, PLAYERS)


class TestRefusals:
    @pytest.mark.parametrize(
        ("open_question", "actor", "name", "arguments", "match"),
        [
            (False, "chat", "answer", {"choice": "A"}, r"it is mika's turn \(host\), not chat's"),
            (False, "rook", "ask", {}, r"it is mika's turn \(host\), not rook's"),
            (False, "mika", "answer", {"choice": "A"}, r"there is no action 'answer'; legal now: ask"),
            (False, "mika", "ask", {"round": 2}, r"ask takes only no arguments; not 'round'"),
            (True, "mika", "ask", {}, r"it is chat's turn \(players\), not mika's"),
            (True, "chat", "answer", {"choice": "E"}, r"^choice 'E' is not one of A, B, C, D$"),
            (True, "chat", "answer", {"choice": 1}, r"choice must be text, got 1"),
            (True, "chat", "answer", {}, r"answer needs choice"),
        ],
    )
    def test_refused_and_unchanged(self, open_question: bool, actor: str, name: str,
                                   arguments: object, match: str) -> None:
        game, _ = new_game()
        if open_question:
            apply_now(game, "mika", "ask", {})
        assert_refused(game, actor, name, arguments, match)

    def test_no_call_after_the_end(self) -> None:
        game, _ = new_game(rounds=1)
        apply_now(game, "mika", "ask", {})
        apply_now(game, "chat", "answer", {"choice": "A"})
        assert_refused(game, "mika", "ask", {}, r"the game is over \(trivia is over: nobody scored\)")

    @pytest.mark.parametrize(
        "players",
        [{"host": "mika"}, {"players": "chat"}, {"host": "mika", "players": "chat", "judge": "x"}],
    )
    def test_bad_players(self, players: dict[str, str]) -> None:
        with pytest.raises(GameError, match=r"need host and players \(and maybe cohost\)"):
            Trivia(TriviaSettings(), players)


class TestSnapshots:
    @FUZZ
    @given(st.lists(st.one_of(
        st.just("ask"),
        st.tuples(st.sampled_from("ABCD"), st.dictionaries(
            st.sampled_from(["twitch:ann", "twitch:bob", "youtube:cy", "twitch:dan"]),
            st.sampled_from(list("ABCDabcdE")), max_size=4))), max_size=12))
    def test_any_game_restores_the_same(self, steps: list[Any]) -> None:
        game, _ = new_game(rounds=4, max_viewers=3)
        for step in steps:
            if game.outcome() is not None:
                break
            if game.turn() == "mika":
                apply_now(game, "mika", "ask", {})
            else:
                choice, answers = step if isinstance(step, tuple) else ("A", {})
                game.ballots({viewer: ("answer", {"choice": letter}) for viewer, letter in answers.items()})
                assert_restores(game, TriviaSettings())
                assert apply_now(game, "chat", "answer", {"choice": choice}).ok
            assert_options_fit(game)
            assert_restores(game, TriviaSettings())
        assert len(game.snapshot()["scores"]) <= 3

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            ({"asked": 9}, r"9 of 2 questions asked"),
            ({"asked": 0, "open": True}, r"0 of 2 questions asked"),
            ({"scores": {"twitch:ann": -1}}, r"a negative score"),
            ({"questions": []}, r"0 of 0 questions asked"),
            ({"kind": "chess"}, r"does not restore"),
            ({"answers": {"twitch:ann": 5}}, r"Expected `str`"),
        ],
    )
    def test_a_bad_snapshot_is_a_game_error(self, change: dict[str, Any], match: str) -> None:
        saved = {**new_game(rounds=2)[0].snapshot(), **change}
        with pytest.raises(GameError, match=match):
            Trivia.restore(TriviaSettings(), saved)
