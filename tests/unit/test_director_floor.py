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
        f.started(first, "t1", 0)
        f.finished("t1", 1)
        second = f.answer_chat("hello again", "text")
        assert (first.persona, second.persona) == ("mika", "rook")

    def test_named_persona_answers_even_out_of_turn(self) -> None:
        f = floor()
        f.started(Plan("rook", "chat", Priority.CHAT), "t1", 0)
        f.finished("t1", 0)
        assert f.answer_chat("rook, again?", "text").persona == "rook"

    def test_the_chat_nodes_ask_command_decides(self) -> None:
        # `!ask rook ...` arrives with the command stripped and persona set by the chat node
        assert floor().answer_chat("what is the plan?", "text", persona="rook").persona == "rook"
        assert floor().answer_chat("hi", "text", persona="nobody").persona == "mika"

    def test_human_is_answered_by_who_spoke_least_recently(self) -> None:
        f = floor()
        f.started(Plan("rook", "chat", Priority.CHAT), "t1", 0)
        f.finished("t1", 1)
        f.started(Plan("mika", "chat", Priority.CHAT), "t2", 1)
        f.finished("t2", 2)
        assert f.answer_human("what now?").persona == "rook"
        assert f.answer_human("Mika, what now?").persona == "mika"

    def test_banter_is_limited(self) -> None:
        f = floor(banter_turns=2, quiet_s=1000)
        f.started(Plan("mika", "chat", Priority.CHAT), "t0", 0)
        f.finished("t0", 1)
        for n, expected in enumerate(("rook", "mika")):
            plan = f.banter_or_topic(2, "some line")
            assert plan is not None and (plan.persona, plan.why) == (expected, "banter")
            f.started(plan, f"t{n + 1}", 2)
            f.finished(f"t{n + 1}", 3)
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
            f.started(plan, plan.prompt, 1)
            f.finished(plan.prompt, 1)
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
        f.started(plan, "t1", 0)
        assert f.human_started(1) == plan and f.speaking is None


class TestInterruptions:
    @pytest.mark.parametrize(
        ("current", "incoming", "interrupts"),
        [
            (Priority.BANTER, Priority.PAID, True),  # a superchat beats banter
            (Priority.TOPIC, Priority.ADDRESSED, True),
            (Priority.BANTER, Priority.CHAT, False),  # plain chat waits its turn
            # a persona is never cut off mid-reply by chat: named or paid lines go first in
            # the queue, and cut only banter and topics (the soak saw most chat turns cut)
            (Priority.CHAT, Priority.ADDRESSED, False),
            (Priority.CHAT, Priority.PAID, False),
            (Priority.ADDRESSED, Priority.PAID, False),
            (Priority.PAID, Priority.PAID, False),  # never cut an equal
            (Priority.HUMAN, Priority.PAID, False),
        ],
    )
    def test_priority(self, current: Priority, incoming: Priority, interrupts: bool) -> None:
        f = floor()
        f.started(Plan("mika", "x", current), "t1", 0)
        assert f.should_interrupt(incoming) is interrupts


class TestEveryTurnEndsOnce:
    """A turn is ended by its id, never by its persona (issue 14, soak fault: a cut turn
    closed 0.3 s later freed the floor under the same persona's next turn)."""

    def test_a_late_end_of_a_cut_turn_leaves_the_same_personas_next_turn_alone(self) -> None:
        f = floor()
        banter = Plan("mika", "banter", Priority.BANTER, "a line")
        f.started(banter, "t1", 0)
        assert f.finished("t1", 1) == banter  # cut: the floor is free at once
        answer = Plan("mika", "addressed", Priority.ADDRESSED, "mika, hi")
        f.started(answer, "t2", 1)
        assert f.finished("t1", 1.3) is None, "the cut turn's close is stale"
        assert f.speaking == answer and not f.free(1.3)
        assert f.finished("t2", 5) == answer and f.free(5)

    def test_the_human_ends_the_turn_and_its_later_close_changes_nothing(self) -> None:
        f = floor()
        f.started(Plan("mika", "chat", Priority.CHAT), "t1", 0)
        assert f.human_started(1) is not None
        assert f.last_speaker == "mika" and f.last_spoken_at["mika"] == 1
        f.human_stopped(2)
        f.human_heard(2)
        f.started(Plan("rook", "human", Priority.HUMAN), "t2", 2)
        assert f.finished("t1", 3) is None
        assert f.last_speaker == "mika" and not f.free(3)

    def test_nothing_to_interrupt_when_idle(self) -> None:
        assert not floor().should_interrupt(Priority.PAID)
