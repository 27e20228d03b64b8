"""Every turn ends: the turn's deadlines and what a lost LLM, TTS or speaker means, on a fake
clock (``now`` is given to every call)."""

from __future__ import annotations

import pytest

from nodes.director.deadlines import Action, Limits, TurnClock, Verdict
from nodes.director.roster import BUS, Change, Role

LIMITS = Limits(first_sentence_s=15, stall_s=10, audio_s=10, rejoin_wait_s=30)


def clock(asked_at: float | None = 0.0) -> TurnClock:
    """A turn whose request went out to a listening LLM at ``asked_at``."""
    turn = TurnClock(LIMITS)
    if asked_at is not None:
        turn.asked(asked_at, listened=True)
    return turn


def change(role: Role, what: str = "restarted") -> Change:
    return Change(role.value, what, frozenset({role}))  # type: ignore[arg-type]


def action(verdict: Verdict | None) -> Action | None:
    return None if verdict is None else verdict.action


class TestDeadlines:
    def test_a_request_with_no_first_sentence_is_cut(self) -> None:
        turn = clock()
        assert turn.due(14.9) is None
        verdict = turn.due(15.0)
        assert verdict is not None and verdict.action is Action.CUT
        assert "no first sentence" in verdict.reason

    def test_a_reply_that_stops_streaming_is_cut(self) -> None:
        turn = clock()
        turn.sentence(14.0)  # just in time
        assert turn.due(20.0) is None, "the first-sentence deadline is over once one came"
        turn.sentence(22.0)
        assert turn.due(31.9) is None, "a reply that keeps streaming is never cut"
        verdict = turn.due(32.0)
        assert verdict is not None and verdict.action is Action.CUT
        assert "stopped streaming" in verdict.reason

    def test_a_complete_reply_waits_for_its_audio_then_closes(self) -> None:
        turn = clock()
        turn.sentence(1.0)
        turn.done(1.0)
        turn.audio(8.0)  # plays long after the text is complete
        assert turn.due(17.9) is None
        assert action(turn.due(18.0)) is Action.CLOSE

    def test_a_done_with_no_text_is_the_audio_rule_only(self) -> None:
        turn = clock()
        turn.done(2.0)  # an empty or failed reply
        assert turn.due(11.9) is None
        assert action(turn.due(12.0)) is Action.CLOSE

    def test_nothing_is_due_before_the_request_goes_out(self) -> None:
        assert clock(asked_at=None).due(1000.0) is None  # still recalling memories


class TestTheLlmIsLost:
    def test_before_a_word_the_request_is_asked_again_of_the_next_llm(self) -> None:
        turn = clock()
        assert turn.lost(change(Role.LLM), 3.0, audio_complete=True) is None
        assert turn.waiting_for_llm()
        assert turn.due(20.0) is None, "no first-sentence deadline while no llm has it"
        verdict = turn.llm_ready(20.0, why="llm is back")
        assert verdict == Verdict(Action.RESEND, "llm is back")
        assert not turn.waiting_for_llm()
        assert turn.due(34.9) is None  # the deadline counts from the new request
        assert action(turn.due(35.0)) is Action.CUT

    def test_a_request_nobody_heard_waits_for_an_llm(self) -> None:
        turn = TurnClock(LIMITS)
        turn.asked(0.0, listened=False)
        assert turn.waiting_for_llm()
        assert action(turn.llm_ready(2.0, why="an llm listens")) is Action.RESEND

    def test_no_llm_back_in_time_ends_the_turn(self) -> None:
        turn = clock()
        turn.lost(change(Role.LLM, "left"), 1.0, audio_complete=True)
        assert turn.due(30.9) is None
        verdict = turn.due(31.0)
        assert verdict is not None and verdict.action is Action.CUT and "no llm" in verdict.reason

    def test_lost_twice_is_given_up(self) -> None:
        turn = clock()
        turn.lost(change(Role.LLM), 1.0, audio_complete=True)
        turn.llm_ready(2.0, why="back")
        verdict = turn.lost(change(Role.LLM), 3.0, audio_complete=True)
        assert verdict is not None and verdict.action is Action.CUT
        assert "given up" in verdict.reason

    def test_mid_reply_the_turn_is_cut(self) -> None:
        turn = clock()
        turn.sentence(1.0)
        verdict = turn.lost(change(Role.LLM), 2.0, audio_complete=True)
        assert verdict is not None and verdict.action is Action.CUT
        assert verdict.reason.startswith("llm restarted mid-reply")

    def test_after_its_done_the_llm_no_longer_matters(self) -> None:
        turn = clock()
        turn.sentence(1.0)
        turn.done(1.0)
        assert turn.lost(change(Role.LLM), 2.0, audio_complete=False) is None

    def test_llm_ready_when_nothing_waits_does_nothing(self) -> None:
        assert clock().llm_ready(1.0, why="back") is None


class TestTheVoiceIsLost:
    @pytest.mark.parametrize(
        ("role", "text", "done", "audio", "complete", "cut"),
        [
            # the TTS holds the sentences it has not voiced yet
            (Role.TTS, False, False, False, False, False),  # nothing sent to it yet
            (Role.TTS, True, False, False, False, True),  # sentences sent, no audio
            (Role.TTS, True, True, True, False, True),  # a sentence's audio not all made
            (Role.TTS, True, True, True, True, False),  # all audio made: the speaker has it
            # the speaker holds the audio it has not played yet
            (Role.SPEAKER, True, False, False, False, False),  # no audio sent to it yet
            (Role.SPEAKER, True, True, True, True, True),
        ],
    )
    def test_which_loss_ends_the_turn(
        self, role: Role, text: bool, done: bool, audio: bool, complete: bool, cut: bool
    ) -> None:
        turn = clock()
        if text:
            turn.sentence(1.0)
        if done:
            turn.done(1.0)
        if audio:
            turn.audio(1.5)
        verdict = turn.lost(change(role), 2.0, audio_complete=complete)
        assert (action(verdict) is Action.CUT) is cut
        if verdict is not None:
            assert verdict.reason.startswith(f"{role.value} restarted mid-reply")

    def test_left_counts_like_restarted_and_back_or_gone_do_not(self) -> None:
        for what, cut in (("left", True), ("back", False), ("gone", False)):
            turn = clock()
            turn.sentence(1.0)
            turn.audio(1.0)
            assert (action(turn.lost(change(Role.SPEAKER, what), 2.0,
                                     audio_complete=True)) is Action.CUT) is cut, what


class TestTheBusRestarts:
    """vtbus restarted: whatever was in flight through it is lost (issue 14, soak: a reply
    waited for its audio timeout, 14 s of silence)."""

    BUS_RESTARTED = Change(BUS, "restarted", frozenset(Role))

    def test_before_the_first_sentence_the_turn_is_asked_again(self) -> None:
        verdict = clock().lost(self.BUS_RESTARTED, 1.0, audio_complete=True)
        assert action(verdict) is Action.REASK

    @pytest.mark.parametrize("stage", ["sentence", "done", "audio"])
    def test_mid_reply_the_turn_is_cut(self, stage: str) -> None:
        turn = clock()
        turn.sentence(0.5)
        if stage in ("done", "audio"):
            turn.done(0.6)
        if stage == "audio":
            turn.audio(0.7)
        verdict = turn.lost(self.BUS_RESTARTED, 1.0, audio_complete=True)
        assert verdict is not None and verdict.action is Action.CUT
        assert "vtbus restarted" in verdict.reason

    def test_a_request_not_sent_yet_waits_for_an_llm_as_before(self) -> None:
        turn = TurnClock(LIMITS)
        turn.asked(0.0, listened=False)
        assert turn.lost(self.BUS_RESTARTED, 1.0, audio_complete=True) is None
        assert turn.waiting_for_llm()
