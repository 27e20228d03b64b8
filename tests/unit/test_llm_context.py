"""The token budget: what goes into a request, in priority order, from whose point of view."""

from __future__ import annotations

import pytest

from messages.llm import ChatTurn
from nodes.llm.context import (
    NO_TURN_PROMPT,
    BuiltContext,
    ContextParts,
    GivenTurns,
    TokenCounts,
    build_context,
    estimate_tokens,
    perspective,
)


def words(text: str) -> int:
    """A token counter that is easy to reason about: one token per word."""
    return len(text.split())


def turn(role: str, name: str, content: str) -> ChatTurn:
    return ChatTurn(role=role, name=name, content=content)  # type: ignore[arg-type]


CONVERSATION = [
    turn("user", "alice", "hi mika how are you"),
    turn("assistant", "mika", "great thanks alice"),
    turn("assistant", "rook", "she says that every day"),
    turn("user", "bob", "rook be nice"),
]


class TestPerspective:
    def test_own_lines_are_assistant_others_are_named_users(self) -> None:
        assert perspective(CONVERSATION, "mika") == [
            {"role": "user", "content": "alice: hi mika how are you"},
            {"role": "assistant", "content": "great thanks alice"},
            {"role": "user", "content": "rook: she says that every day\nbob: rook be nice"},
        ]

    def test_the_other_persona_sees_the_mirror_image(self) -> None:
        assert perspective(CONVERSATION, "rook") == [
            {"role": "user", "content": "alice: hi mika how are you\nmika: great thanks alice"},
            {"role": "assistant", "content": "she says that every day"},
            {"role": "user", "content": "bob: rook be nice"},
        ]

    def test_names_compare_without_case(self) -> None:
        assert perspective([turn("assistant", "Mika", "hi")], "mika")[0]["role"] == "assistant"

    def test_a_line_already_named_is_not_named_twice(self) -> None:
        # the director sends others' lines as user turns "Rook: text" with name "Rook"
        line = turn("user", "Rook", "Rook: nice try (cut off)")
        assert perspective([line], "mika") == [
            {"role": "user", "content": "Rook: nice try (cut off)"}]

    def test_system_turns_become_stage_directions(self) -> None:
        assert perspective([turn("system", "", "the game starts")], "mika") == [
            {"role": "user", "content": "(stage direction) the game starts"}
        ]


class TestBudget:
    def parts(self, **kwargs: object) -> ContextParts:
        base: dict[str, object] = {
            "persona": "mika", "persona_prompt": "you are mika", "show_prompt": "a show",
            "memories": ["alice likes cats", "bob is new"], "conversation": CONVERSATION,
            "chat": ["carol: first", "dave: second"],
        }
        base.update(kwargs)
        return ContextParts(**base)  # type: ignore[arg-type]

    def test_everything_fits_in_a_large_budget(self) -> None:
        built = build_context(self.parts(), budget=1000, count_tokens=words)
        system = built.messages[0]["content"]
        assert system == "a show\n\nyou are mika"  # a stable prefix for the KV cache
        last = built.messages[-1]
        # what changes with every request comes with the current turn, after the history
        assert last["role"] == "user" and last["content"].startswith("rook: she says that every day\n")
        assert "- alice likes cats" in last["content"] and "- dave: second" in last["content"]
        assert last["content"].endswith("bob: rook be nice")
        assert (built.dropped_history, built.dropped_memories, built.dropped_chat) == (0, 0, 0)
        assert built.tokens <= 1000

    @pytest.mark.parametrize("budget", [40, 50, 60, 70, 80, 200])
    def test_never_over_budget(self, budget: int) -> None:
        built = build_context(self.parts(), budget=budget, count_tokens=words)
        assert built.tokens <= budget

    def test_chat_goes_before_history(self) -> None:
        full = build_context(self.parts(), budget=1000, count_tokens=words).tokens
        built = build_context(self.parts(), budget=full - 1, count_tokens=words)
        assert built.dropped_chat >= 1
        assert built.dropped_history == 0

    def test_oldest_history_goes_first_and_is_noted(self) -> None:
        no_chat = self.parts(chat=[])
        full = build_context(no_chat, budget=1000, count_tokens=words).tokens
        built = build_context(no_chat, budget=full - 2, count_tokens=words)
        assert built.dropped_history == 2  # the note itself costs the second-oldest line
        contents = [m["content"] for m in built.messages]
        assert not any("hi mika how are you" in c or "great thanks" in c for c in contents)
        assert any("she says that every day" in c for c in contents)
        assert "(2 earlier line(s) of the conversation left out)" in contents[0]
        assert built.tokens <= full - 2

    def test_memories_come_before_the_conversation(self) -> None:
        built = build_context(self.parts(chat=[]), budget=45, count_tokens=words)
        assert built.dropped_memories == 0
        assert built.dropped_history > 0

    def test_memories_take_at_most_their_share(self) -> None:
        many = [f"memory number {i} about something" for i in range(50)]
        built = build_context(self.parts(memories=many), budget=200, count_tokens=words)
        kept = built.messages[-1]["content"].count("- memory number")
        assert 0 < kept <= 200 * 0.25 / 6
        assert built.dropped_memories == 50 - kept

    def test_the_current_turn_is_shortened_not_dropped(self) -> None:
        long_turn = turn("user", "eve", "blah " * 200 + "so what is your answer")
        built = build_context(self.parts(conversation=[long_turn], memories=[], chat=[]),
                              budget=40, count_tokens=words)
        assert built.turn_shortened
        assert built.messages[-1]["content"].startswith("…")
        assert built.messages[-1]["content"].endswith("so what is your answer")
        assert built.tokens <= 40

    def test_no_turn_to_answer_asks_the_persona_to_speak(self) -> None:
        built = build_context(self.parts(conversation=[]), budget=1000, count_tokens=words)
        assert built.messages[-1]["role"] == "user"
        assert built.messages[-1]["content"].endswith("\n\n" + NO_TURN_PROMPT)

    def test_after_its_own_line_the_persona_is_prompted_to_go_on(self) -> None:
        mine = [*CONVERSATION, turn("assistant", "mika", "anyway")]
        built = build_context(self.parts(conversation=mine), budget=1000, count_tokens=words)
        assert built.messages[-2] == {"role": "assistant", "content": "anyway"}
        assert built.messages[-1]["content"].endswith("\n\n" + NO_TURN_PROMPT)


class TestEstimate:
    @pytest.mark.parametrize(
        ("text", "tokens"),
        [("", 0), ("abc", 1), ("a" * 35, 10), ("Hello there, how are you today?", 9)],
    )
    def test_about_three_and_a_half_chars_a_token(self, text: str, tokens: int) -> None:
        assert estimate_tokens(text) == tokens


class TestAsGiven:
    """A persona's prompt only grows at its end, so the prefix its cache holds is reused."""

    QUESTION = turn("user", "alice", "alice: what is your cat called")

    def build(self, conversation: list[ChatTurn], given: GivenTurns,
              memories: tuple[str, ...] = ("alice has a cat named Tom",)) -> BuiltContext:
        built = build_context(
            ContextParts(persona="mika", persona_prompt="you are mika", memories=memories,
                         conversation=conversation, as_given=given.of("Mika")),
            budget=1000, count_tokens=words)
        if built.given_turn is not None:
            given.remember("mika", *built.given_turn)
        return built

    def test_the_next_prompt_starts_with_the_last_one_and_its_reply_as_written(self) -> None:
        given = GivenTurns()
        first = self.build([self.QUESTION], given)
        assert first.messages[-1]["content"] == (
            "What you remember:\n- alice has a cat named Tom\n\nalice: what is your cat called")
        given.remember("mika", "It is Tom!", "[happy] It is Tom!")  # as the node does
        later = [self.QUESTION, turn("assistant", "", "It is  Tom!"),
                 turn("user", "Rook", "Rook: cute"), turn("user", "bob", "bob: and a dog?")]
        second = self.build(later, given, memories=("bob has a dog", "alice has a cat named Tom"))
        assert second.messages[: len(first.messages)] == first.messages
        assert second.messages[len(first.messages)] == {"role": "assistant",
                                                        "content": "[happy] It is Tom!"}
        # the memory given before is still there: only the new one comes with this turn
        assert second.messages[-1]["content"] == (
            "Rook: cute\nWhat you remember:\n- bob has a dog\n\nbob: and a dog?")

    def test_without_memories_a_turn_goes_as_it_is(self) -> None:
        given = GivenTurns()
        built = self.build([self.QUESTION], given, memories=())
        assert built.given_turn is None and not given.of("mika")

    def test_each_persona_has_its_own_and_the_oldest_go(self) -> None:
        given = GivenTurns(size=2)
        for n in range(3):
            given.remember("Mika", f"line {n}", f"given {n}")
        assert dict(given.of("mika")) == {"line 1": "given 1", "line 2": "given 2"}
        assert not given.of("rook")


class TestNonLatin:
    """Issue 14: a chat line of emoji or zalgo must not overflow the context."""

    @pytest.mark.parametrize(
        ("text", "at_least"),
        [
            ("\U0001f600\U0001f525\U0001f4af", 9),  # SmolLM2: 9 tokens
            ("Z\u0334\u0322\u031ba\u0337l\u0338g\u0335o\u0336", 19),  # one a byte here
            ("\u00e9t\u00e9", 4),
        ],
    )
    def test_the_estimate_counts_a_token_per_byte_beyond_ascii(self, text: str,
                                                                at_least: int) -> None:
        assert estimate_tokens(text) >= at_least
        assert estimate_tokens(text) <= len(text.encode()) + 1

    def test_a_huge_history_turn_is_shortened_and_the_history_before_it_kept(self) -> None:
        spam = turn("user", "spammer", "\U0001f600 " * 2000 + "end of spam")
        question = turn("user", "bob", "so how are you")
        built = build_context(ContextParts(
            persona="mika", persona_prompt="you are mika",
            conversation=[turn("user", "alice", "hi mika"), spam,
                          turn("assistant", "mika", "hello alice"), question]), budget=400)
        text = "\n".join(m["content"] for m in built.messages)
        assert built.dropped_history == 0
        assert "alice: hi mika" in text and "spammer: …" in text and "end of spam" in text
        assert built.tokens <= 400

    def test_a_huge_chat_line_is_shortened_keeping_who_wrote_it(self) -> None:
        chat = ["carol: first", "spammer: " + "\U0001f525" * 5000, "dave: last"]
        built = build_context(ContextParts(persona="mika", persona_prompt="you are mika",
                                           conversation=[turn("user", "bob", "hi")], chat=chat),
                              budget=400)
        text = built.messages[-1]["content"]
        assert built.dropped_chat == 0
        assert "- carol: first\n- spammer: \U0001f525" in text and "…\n- dave: last" in text
        assert built.tokens <= 400

    def test_a_shortened_line_is_checked_with_the_real_count(self) -> None:
        def two_per_char(text: str) -> int:  # a tokenizer far above the estimate
            return 2 * len(text)

        long_turn = turn("user", "eve", "x" * 2000 + "?")
        built = build_context(ContextParts(persona="mika", persona_prompt="you are mika",
                                           conversation=[long_turn]),
                              budget=300, count_tokens=two_per_char)
        assert built.turn_shortened and built.messages[-1]["content"].endswith("x?")
        assert built.tokens <= 300


class TestTokenCounts:
    def test_asks_the_tokenizer_once_per_text(self) -> None:
        asked: list[str] = []

        def tokenizer(text: str) -> int:
            asked.append(text)
            return len(text)

        counts = TokenCounts(tokenizer, size=2)
        assert [counts("abc"), counts("abc"), counts("de"), counts("")] == [3, 3, 2, 0]
        assert asked == ["abc", "de"]
        counts("f"), counts("abc")  # "abc" was the least recently used of three: forgotten
        assert asked == ["abc", "de", "f", "abc"]

    def test_estimates_while_the_tokenizer_cannot_say(self) -> None:
        answer: list[int | None] = [None]
        counts = TokenCounts(lambda _: answer[0])
        emoji = "\U0001f600" * 10
        assert counts(emoji) == estimate_tokens(emoji) == 40
        answer[0] = 20
        assert counts(emoji) == 20, "a missing count is not remembered"
