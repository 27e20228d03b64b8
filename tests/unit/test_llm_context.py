"""The token budget: what goes into a request, in priority order, from whose point of view."""

from __future__ import annotations

import pytest

from messages.llm import ChatTurn
from nodes.llm.context import (
    CHAT_HEADER,
    MEMORY_HEADER,
    MESSAGE_OVERHEAD_TOKENS,
    NO_TURN_PROMPT,
    BuiltContext,
    ContextParts,
    GivenTurns,
    TokenBudget,
    TokenCounts,
    build_context,
    estimate_tokens,
    fit_chat,
    fit_history,
    fit_memories,
    fit_system,
    fit_turn,
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


def budget(remaining: int, line_cap: int = 1000) -> TokenBudget:
    """A budget that counts a token per word."""
    return TokenBudget(remaining, words, line_cap=line_cap)


class TestTokenBudget:
    def test_take_charges_only_what_fits(self) -> None:
        room = budget(10)
        assert room.take(4) and room.remaining == 6
        assert not room.take(7) and room.remaining == 6, "nothing charged for what did not fit"
        assert room.take(6) and room.remaining == 0

    def test_spend_charges_even_past_zero_and_refund_gives_back(self) -> None:
        room = budget(3)
        room.spend(5)
        assert room.remaining == -2 and not room.take(1)
        room.refund(5)
        assert room.remaining == 3

    def test_costs_of_a_message_and_of_a_line(self) -> None:
        room = budget(100)
        assert room.message_cost("two words") == 2 + MESSAGE_OVERHEAD_TOKENS
        assert room.line_cost("two words") == 3


class TestPhases:
    """Each phase of `build_context` alone: what it keeps and what it charges."""

    def test_system_prompts_always_go_in_show_first(self) -> None:
        room = budget(3)
        parts = ContextParts(persona="mika", persona_prompt="you are mika", show_prompt="a show")
        assert fit_system(parts, room) == "a show\n\nyou are mika"
        assert room.remaining == 3 - (5 + MESSAGE_OVERHEAD_TOKENS)  # over budget: still in

    def test_memories_skip_one_too_long_and_ones_given_before(self) -> None:
        room = budget(100)
        memories = ["a b c d e f g h", "given before", "cats"]
        kept = fit_memories(memories, "- given before\n", room, share=6)
        assert kept == ["cats"]  # the first costs 9 > its share of 6; the next was given
        assert room.remaining == 100 - 2 - (len(MEMORY_HEADER.split()) + 1)

    def test_no_memory_no_header(self) -> None:
        room = budget(100)
        assert fit_memories([], "\n", room, share=50) == [] and room.remaining == 100

    def test_the_turn_is_charged_whole_when_it_fits(self) -> None:
        room = budget(100)
        turn, shortened = fit_turn(ChatTurn(role="user", name="bob", content="hi there"),
                                   "mika", room)
        assert turn == {"role": "user", "content": "bob: hi there"} and not shortened
        assert room.remaining == 100 - (3 + MESSAGE_OVERHEAD_TOKENS)

    def test_the_turn_is_shortened_to_what_is_left_keeping_its_end(self) -> None:
        room = budget(10)
        turn, shortened = fit_turn(ChatTurn(role="user", content="x " * 50 + "why?"),
                                   "mika", room)
        assert shortened and turn["content"].startswith("…") and turn["content"].endswith("why?")
        assert words(turn["content"]) <= 10 - MESSAGE_OVERHEAD_TOKENS and room.remaining >= 0

    def test_no_turn_asks_the_persona_to_speak(self) -> None:
        turn, shortened = fit_turn(None, "mika", budget(100))
        assert turn == {"role": "user", "content": NO_TURN_PROMPT} and not shortened

    def test_history_keeps_the_newest_and_pays_for_the_note(self) -> None:
        history = [ChatTurn(role="user", name="u", content=f"line {i} " * 3) for i in range(5)]
        cost = 6 + MESSAGE_OVERHEAD_TOKENS + 1  # the text, the template, the name
        room = budget(3 * cost)
        kept = fit_history(history, room)
        # three fit; the note ("(N earlier line(s) ... left out)", 8 words + 1) costs one more
        assert [t.content for t in kept] == [history[3].content, history[4].content]
        assert room.remaining == 3 * cost - 2 * cost - 9

    def test_history_stops_at_the_first_gap(self) -> None:
        history = [ChatTurn(role="user", content="old"),
                   ChatTurn(role="user", content="huge " * 40),
                   ChatTurn(role="user", content="new")]
        kept = fit_history(history, budget(30, line_cap=100))
        assert [t.content for t in kept] == ["new"], "the old line is not kept after the gap"

    def test_a_history_turn_over_the_line_cap_keeps_its_end(self) -> None:
        long = ChatTurn(role="user", content="word " * 100 + "end")
        (kept,) = fit_history([long], budget(1000, line_cap=20))
        assert kept.content.startswith("…") and kept.content.endswith("end")
        assert words(kept.content) + MESSAGE_OVERHEAD_TOKENS <= 20

    def test_chat_keeps_the_newest_lines_oldest_first(self) -> None:
        lines = ["a: one two", "b: three four", "c: five six"]
        room = budget(len(CHAT_HEADER.split()) + 1 + 2 * 4)
        assert fit_chat(lines, room) == lines[1:] and room.remaining == 0

    def test_a_chat_line_over_the_line_cap_keeps_its_author(self) -> None:
        (line,) = fit_chat(["spammer: " + "spam " * 100], budget(1000, line_cap=10))
        assert line.startswith("spammer: spam") and line.endswith("…")
        assert words(line) <= 10

    def test_no_chat_no_header(self) -> None:
        room = budget(50)
        assert fit_chat([], room) == [] and room.remaining == 50
