"""The director's turn-taking rules."""

from __future__ import annotations

import pytest

from nodes.director.cast import DEFAULT_CAST, CastMember
from nodes.director.floor import Floor, Plan, Priority, addressed_to, chat_priority

CAST = list(DEFAULT_CAST)  # mika, rook


def floor(**kwargs: float) -> Floor:
    return Floor(CAST, banter_turns=int(kwargs.pop("banter_turns", 2)), **kwargs)


class TestAddressing:
    @pytest.mark.parametrize(
        ("text", "persona"),
        [
            ("hi Mika!", "mika"),
            ("ROOK what do you think", "rook"),
            ("@mika look", "mika"),
            ("!ask rook is this good?", "rook"),
            ("!ask Mika and rook too", "mika"),  # the command names one
            ("mikachan <3", "mika"),  # an alias
            ("hello everyone", None),
            ("mika and rook, hi", None),  # both named: nobody in particular
            ("rookie mistake", None),  # whole words only
        ],
    )
    def test_who_is_named(self, text: str, persona: str | None) -> None:
        assert addressed_to(text, CAST) == persona

    @pytest.mark.parametrize(
        ("kind", "addressed", "priority"),
        [("superchat", False, Priority.PAID), ("raid", False, Priority.PAID),
         ("text", True, Priority.ADDRESSED), ("text", False, Priority.CHAT)],
    )
    def test_chat_priority(self, kind: str, addressed: bool, priority: Priority) -> None:
        assert chat_priority(kind, addressed) == priority


class TestWhoSpeaks:
    def test_alternate_on_chat(self) -> None:
        f = floor()
        first = f.answer_chat("hello", "text")
        f.started(first, 0)
        f.finished(first.persona, 1)
        second = f.answer_chat("hello again", "text")
        assert (first.persona, second.persona) == ("mika", "rook")

    def test_named_persona_answers_even_out_of_turn(self) -> None:
        f = floor()
        f.finished("rook", 0)
        assert f.answer_chat("rook, again?", "text").persona == "rook"

    def test_the_chat_nodes_ask_command_decides(self) -> None:
        # `!ask rook ...` arrives with the command stripped and persona set by the chat node
        assert floor().answer_chat("what is the plan?", "text", persona="rook").persona == "rook"
        assert floor().answer_chat("hi", "text", persona="nobody").persona == "mika"

    def test_human_is_answered_by_who_spoke_least_recently(self) -> None:
        f = floor()
        f.finished("rook", 1)
        f.finished("mika", 2)
        assert f.answer_human("what now?").persona == "rook"
        assert f.answer_human("Mika, what now?").persona == "mika"

    def test_banter_is_limited(self) -> None:
        f = floor(banter_turns=2, quiet_s=1000)
        f.started(Plan("mika", "chat", Priority.CHAT), 0)
        f.finished("mika", 1)
        for expected in ("rook", "mika"):
            plan = f.banter_or_topic(2, "some line")
            assert plan is not None and (plan.persona, plan.why) == (expected, "banter")
            f.started(plan, 2)
            f.finished(plan.persona, 3)
        assert f.banter_or_topic(4, "some line") is None

    def test_quiet_show_gets_a_topic(self) -> None:
        f = floor(quiet_s=20)
        f.last_activity = 0
        assert f.banter_or_topic(10, "") is None
        plan = f.banter_or_topic(21, "")
        assert plan is not None and plan.why == "topic" and plan.prompt in CAST[0].topics

    def test_topics_rotate(self) -> None:
        f = floor(quiet_s=0)
        prompts = []
        for _ in range(2):
            plan = f.banter_or_topic(1, "")
            assert plan is not None
            prompts.append(plan.prompt)
            f.started(plan, 1)
            f.finished(plan.persona, 1)
            f.finished(plan.persona, 1)
        assert prompts[0] != prompts[1]

    def test_persona_without_topics(self) -> None:
        f = Floor([CastMember(name="a"), CastMember(name="b")], quiet_s=0)
        plan = f.banter_or_topic(1, "")
        assert plan is not None and plan.prompt


class TestTheHumanHasTheFloor:
    def test_human_speaking_blocks_everyone(self) -> None:
        f = floor()
        f.human_started(0)
        assert not f.free(0.5)
        f.human_stopped(1)
        f.human_heard(1.2)
        assert f.free(1.2)

    def test_the_floor_waits_for_the_humans_words(self) -> None:
        f = Floor([CastMember(name="mika"), CastMember(name="rook")], words_wait_s=2.0)
        f.human_started(0)
        f.human_stopped(1)
        assert not f.free(2.9), "their transcript is still on its way"
        f.human_heard(1.5)
        assert f.free(1.5)

    def test_a_pause_with_no_words_frees_the_floor_after_the_wait(self) -> None:
        f = Floor([CastMember(name="mika"), CastMember(name="rook")], words_wait_s=2.0)
        f.human_started(0)
        f.human_stopped(1)
        assert not f.free(2.9)
        assert f.free(3.0)

    def test_human_cuts_the_turn_in_progress(self) -> None:
        f = floor()
        plan = Plan("mika", "chat", Priority.CHAT)
        f.started(plan, 0)
        assert f.human_started(1) == plan and f.speaking is None


class TestInterruptions:
    @pytest.mark.parametrize(
        ("current", "incoming", "interrupts"),
        [
            (Priority.BANTER, Priority.PAID, True),  # a superchat beats banter
            (Priority.TOPIC, Priority.ADDRESSED, True),
            (Priority.BANTER, Priority.CHAT, False),  # plain chat waits its turn
            (Priority.CHAT, Priority.ADDRESSED, True),
            (Priority.PAID, Priority.PAID, False),  # never cut an equal
            (Priority.HUMAN, Priority.PAID, False),
        ],
    )
    def test_priority(self, current: Priority, incoming: Priority, interrupts: bool) -> None:
        f = floor()
        f.started(Plan("mika", "x", current), 0)
        assert f.should_interrupt(incoming) is interrupts

    def test_nothing_to_interrupt_when_idle(self) -> None:
        assert not floor().should_interrupt(Priority.PAID)
