"""Trivia: the personas host, chat answers, every viewer scores for themselves.

Players: ``{"host": "mika", "players": "chat"}``, optionally ``"cohost": "rook"``. A round:

1. The host's turn: the one action is ``ask`` (no arguments). It opens the next question
   and announces it through ``GameHooks.event("question", text, data, speak=True)``; the
   text is the question and its choices, for a persona to read out.
2. Chat's turn while the question is open: ``answer`` with ``choice`` (a letter, an
   ``enum``). The game node runs the answer window as a vote (one answer per viewer, the
   latest counts). When it closes the node hands every viewer's answer to `Trivia.ballots`
   (``viewer -> (action, arguments)``, a viewer being ``platform:user_id``) and applies
   chat's majority as ``apply("chat", "answer", {"choice": ...})``, which closes the round:
   each viewer who answered right scores a point, and ``GameHooks.event("round", ...,
   speak=True)`` says the right answer and who got it. After the last round the game is
   over; its `Outcome` has every viewer's score and the leaders as winners.

Questions come from a JSON list (the bundled ``trivia_questions.json``, or the ``questions``
setting): ``{"question", "choices": [2-6], "answer": "B", "category"}``. A game draws
``rounds`` of them without repeats and shuffles each one's choices, from ``seed`` (a fresh
one when unset); the snapshot keeps the drawn questions themselves, so a saved game resumes
even if the file changed. The answer is never in `view` or `describe` while a question is
open (the prompt of a persona that might blurt it out).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from bus.text import escape_control
from messages.game import ActionOption, GameAction
from nodes.game.games import GameError, GameHooks, Outcome
from nodes.game.games.rules import TurnGame, load_snapshot, object_schema, show

__all__ = ["BUNDLED_QUESTIONS", "Question", "Trivia", "TriviaSettings", "load_questions"]

BUNDLED_QUESTIONS = Path(__file__).with_name("trivia_questions.json")
LETTERS = "ABCDEF"
NAMED_RIGHT = 5
"""Viewers named in a round's result; the rest are counted."""
LEADERS = 10
"""Viewers in the leaderboard of `view` and of the outcome's text."""
MAX_VIEWER_ID = 200


class Question(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    question: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    choices: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]],
                       msgspec.Meta(min_length=2, max_length=len(LETTERS))]
    answer: str
    """The right choice's letter (A is the first choice)."""
    category: str = ""

    def problem(self) -> str | None:
        """What is wrong with it beyond its types, or None."""
        letters = LETTERS[:len(self.choices)]
        if len(self.answer) != 1 or self.answer not in letters:
            return f"answer {self.answer!r} is not one of {', '.join(letters)}"
        if len(set(self.choices)) != len(self.choices):
            return "two choices are the same"
        return None


class TriviaSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    rounds: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    questions: str = ""
    """A JSON file of questions instead of the bundled ones ("" the bundled)."""
    seed: int | None = None
    """Which questions and in which order (None: a new draw each game)."""
    max_viewers: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    """Viewers one game keeps scores for; answers of more are not counted (a flood of new
    accounts must not grow the table)."""


class _Saved(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["trivia"]
    players: dict[str, str]
    questions: list[Question]
    asked: int
    """Questions asked so far (the open one included)."""
    open: bool
    answers: dict[str, str]
    """viewer -> letter, for the open question."""
    scores: dict[str, int]
    history: list[str]
    last: dict[str, Any] = {}


def load_questions(path: Path) -> list[Question]:
    """The questions of a JSON file, or a `GameError` naming the file and the problem."""
    try:
        questions = msgspec.json.decode(path.read_bytes(), type=list[Question])
    except (OSError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise GameError(f"trivia questions {path}: {exc}") from None
    for number, question in enumerate(questions, 1):
        if problem := question.problem():
            raise GameError(f"trivia questions {path}: question {number}: {problem}")
    return questions


def _shuffled(question: Question, rng: random.Random) -> Question:
    order = list(range(len(question.choices)))
    rng.shuffle(order)
    right = LETTERS.index(question.answer)
    return msgspec.structs.replace(question, choices=[question.choices[i] for i in order],
                                   answer=LETTERS[order.index(right)])


def _name(viewer: str) -> str:
    """How a viewer is said: the user part of ``platform:user_id``, controls escaped."""
    return escape_control(viewer.partition(":")[2] or viewer)[:40]


class Trivia(TurnGame):
    kind = "trivia"
    title = "trivia"
    sides = ("host", "players")
    optional_sides = ("cohost",)
    Settings = TriviaSettings

    def __init__(self, settings: TriviaSettings, players: Mapping[str, str],
                 hooks: GameHooks | None = None, *, questions: list[Question] | None = None):
        super().__init__(players, hooks)
        self.settings = settings
        if questions is None:
            pool = load_questions(Path(settings.questions) if settings.questions else BUNDLED_QUESTIONS)
            if settings.rounds > len(pool):
                raise GameError(f"trivia: {settings.rounds} rounds but only {len(pool)} questions")
            rng = random.Random(settings.seed)
            questions = [_shuffled(question, rng) for question in rng.sample(pool, settings.rounds)]
        self._questions = questions
        self._asked = 0
        self._open = False
        self._answers: dict[str, str] = {}
        self._scores: dict[str, int] = {}
        self._last: dict[str, Any] = {}
        """The last round's result (answer, who got it), for `view`."""

    @classmethod
    def restore(cls, settings: TriviaSettings, snapshot: Mapping[str, Any],
                hooks: GameHooks | None = None) -> Trivia:
        saved = load_snapshot(_Saved, snapshot, cls.kind)
        problems = [f"question {n}: {p}" for n, q in enumerate(saved.questions, 1) if (p := q.problem())]
        if not saved.questions or not 0 <= saved.asked <= len(saved.questions) or (
                saved.open and saved.asked == 0):
            problems.append(f"{saved.asked} of {len(saved.questions)} questions asked")
        if any(score < 0 for score in saved.scores.values()):
            problems.append("a negative score")
        if problems:
            raise GameError(f"trivia: the saved game does not restore: {'; '.join(problems)}")
        game = cls(settings, saved.players, hooks, questions=saved.questions)
        game._asked, game._open = saved.asked, saved.open
        game._answers = {viewer: letter for viewer, letter in saved.answers.items()
                         if letter in game._letters()}
        game._scores, game._history, game._last = dict(saved.scores), list(saved.history), dict(saved.last)
        return game

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.kind, "players": self.players(),
                "questions": msgspec.to_builtins(self._questions), "asked": self._asked,
                "open": self._open, "answers": dict(self._answers), "scores": dict(self._scores),
                "history": list(self._history), "last": dict(self._last)}

    # --- rules -----------------------------------------------------------------------------

    def _current(self) -> Question:
        return self._questions[self._asked - 1]

    def _letters(self) -> list[str]:
        return list(LETTERS[:len(self._current().choices)]) if self._asked else []

    def _mover(self) -> str:
        return "players" if self._open else "host"

    def _schemas(self) -> dict[str, dict[str, Any]]:
        if self._open:
            return {"answer": object_schema({"choice": {"type": "string", "enum": self._letters()}})}
        return {"ask": object_schema({})}

    def _not_legal(self, name: str, field: str, value: Any) -> str:
        return f"choice {show(value)} is not one of {', '.join(self._letters())}"

    def normalize(self, name: str, arguments: object) -> object:
        """``b`` -> ``B``, `` B `` -> ``B``."""
        if name == "answer" and isinstance(arguments, dict) and isinstance(arguments.get("choice"), str):
            return {**arguments, "choice": arguments["choice"].strip().upper()}
        return arguments

    def ballots(self, votes: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        """Every viewer's answer to the open question (``viewer -> (action, arguments)``, the
        latest counts); answers to no open question, not an answer, or past `max_viewers`
        new viewers are not counted."""
        if not self._open:
            return
        room = self.settings.max_viewers - len(self._scores.keys() | self._answers.keys())
        for viewer, ballot in votes.items():
            name, arguments = ballot if isinstance(ballot, tuple) and len(ballot) == 2 else ("", None)
            if name != "answer" or not isinstance(arguments, Mapping):
                continue
            normal = self.normalize(name, dict(arguments))
            choice = normal.get("choice") if isinstance(normal, dict) else None
            if (choice not in self._letters() or not isinstance(viewer, str)
                    or not 0 < len(viewer) <= MAX_VIEWER_ID):
                continue
            if viewer not in self._answers and viewer not in self._scores:
                if room <= 0:
                    continue
                room -= 1
            self._answers[viewer] = str(choice)

    def _play(self, name: str, arguments: dict[str, Any]) -> str:
        if name == "ask":
            self._asked += 1
            self._open, self._answers = True, {}
            text = self._question_text()
            self._hooks.event("question", text, {"round": self._asked, "rounds": len(self._questions),
                                                 "question": self._current().question,
                                                 "choices": list(self._current().choices),
                                                 "host": self._players["host"]}, True)
            return f"asks question {self._asked} of {len(self._questions)}"
        return self._close(str(arguments["choice"]))

    def _close(self, chat_choice: str) -> str:
        question = self._current()
        right = sorted(viewer for viewer, letter in self._answers.items() if letter == question.answer)
        for viewer in right:
            self._scores[viewer] = self._scores.get(viewer, 0) + 1
        answer = f"{question.answer}: {question.choices[LETTERS.index(question.answer)]}"
        named = ", ".join(_name(viewer) for viewer in right[:NAMED_RIGHT])
        more = f" and {len(right) - NAMED_RIGHT} more" if len(right) > NAMED_RIGHT else ""
        who = f"{len(right)} of {len(self._answers)} got it: {named}{more}" if right else (
            f"nobody of {len(self._answers)} got it" if self._answers else "nobody answered")
        majority = "right" if chat_choice == question.answer else "wrong"
        text = f"The answer to question {self._asked} was {answer}. {who}."
        self._last = {"round": self._asked, "answer": question.answer, "text": text,
                      "right": right[:NAMED_RIGHT], "right_count": len(right),
                      "answers": len(self._answers), "chat_choice": chat_choice}
        self._open, self._answers = False, {}
        self._hooks.event("round", text, dict(self._last), True)
        return f"{chat_choice} (the majority's answer, {majority}); {text}"

    def _winner(self) -> tuple[str | None, str] | None:
        return (None, "") if self._asked == len(self._questions) and not self._open else None

    # --- what the players see -------------------------------------------------------------

    def _leaders(self) -> list[tuple[str, int]]:
        return sorted(self._scores.items(), key=lambda item: (-item[1], item[0]))

    def outcome(self) -> Outcome | None:
        if self._winner() is None:
            return None
        leaders = self._leaders()
        if not leaders:
            return Outcome("trivia is over: nobody scored")
        best = leaders[0][1]
        winners = [viewer for viewer, score in leaders if score == best]
        board = ", ".join(f"{_name(viewer)} {score}" for viewer, score in leaders[:LEADERS])
        return Outcome(f"{' and '.join(_name(w) for w in winners)} won trivia with {best} of "
                       f"{len(self._questions)}; scores: {board}", winners=winners,
                       scores=dict(leaders))

    def actions(self) -> list[GameAction]:
        if self._winner() is not None:
            return []
        if not self._open:
            return [GameAction(name="ask", description=f"Ask question {self._asked + 1} of "
                               f"{len(self._questions)} (the game reads it out)", schema=object_schema({}),
                               options=[ActionOption(arguments={})])]
        question = self._current()
        # no opinion on the answer: ranking it would give it away in the prompt
        options = [ActionOption(arguments={"choice": letter}, note=choice)
                   for letter, choice in zip(LETTERS, question.choices, strict=False)]
        return [GameAction(name="answer", description=f"Answer: {question.question}",
                           schema=self._schemas()["answer"], options=options)]

    def _question_text(self) -> str:
        question = self._current()
        choices = "; ".join(f"{letter}: {choice}"
                            for letter, choice in zip(LETTERS, question.choices, strict=False))
        topic = f" ({question.category})" if question.category else ""
        return f"Question {self._asked} of {len(self._questions)}{topic}: {question.question} {choices}"

    def view(self) -> dict[str, Any]:
        question = self._current() if self._open else None
        return {"round": self._asked, "rounds": len(self._questions),
                "phase": "over" if self._winner() else "open" if self._open else "ask",
                "question": question.question if question else "",
                "choices": list(question.choices) if question else [],
                "answers": len(self._answers),
                "leaderboard": [{"viewer": viewer, "name": _name(viewer), "score": score}
                                for viewer, score in self._leaders()[:LEADERS]],
                "last": dict(self._last)}

    def describe(self) -> str:
        cohost = self._players.get("cohost")
        hosts = self._players["host"] + (f" with {cohost}" if cohost else "")
        leaders = ", ".join(f"{_name(viewer)} {score}" for viewer, score in self._leaders()[:3])
        lines = [f"Trivia hosted by {hosts}; {self._players['players']} answers.",
                 f"Leaders: {leaders}." if leaders else "Nobody has scored yet."]
        if self._last:
            lines.append(str(self._last["text"]))
        if (outcome := self.outcome()) is not None:
            lines.append(f"Over: {outcome.text}.")
        elif self._open:
            lines.append(f"{self._question_text()} ({len(self._answers)} answers so far)")
        else:
            lines.append(f"Next: question {self._asked + 1} of {len(self._questions)}; the host asks it.")
        return "\n".join(lines)
