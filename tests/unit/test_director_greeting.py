"""The show's greeting on a fake clock: the first turn, once the voice (LLM, TTS, speaker) is on
the bus; once per show; told what the show is doing; switched off by its parameter.

Before the greeting existed a new show said nothing until ``quiet_s`` ran out: every test
here that expects a ``greeting`` turn failed (the first decision was None)."""

from __future__ import annotations

from helpers.director import GRACE, LIMITS, SAMPLES, TOPICS, Show, chat

from messages.game import GameFrame, GameState
from nodes.director.decisions import Announce, Log
from nodes.director.greeting import (
    GREETING_SETTLE_S,
    GREETING_TRIES,
    Greeting,
    GreetingState,
)
from nodes.director.roster import Seen


def greeted(show: Show) -> list[str]:
    return [a.turn.request_id for a in show.of(Announce) if a.turn.why == "greeting"]


class TestWhen:
    def test_the_first_turn_greets_once_the_voice_is_up(self) -> None:
        show = Show(quiet_s=1000)
        no_speaker = Seen("voice", 1, 1, frozenset({"llm/done", "tts/audio"}))
        show.at(1.5, show.turns.registry([no_speaker], "e1", 1.5))
        assert show.decide() is None, "no greeting without a speaker"
        show.voice_up(2.0)
        turn = show.decide()
        assert turn is not None and (turn.plan.persona, turn.plan.why) == ("mika", "greeting")
        (request,) = show.requests()
        assert request.persona == "mika"
        assert "Greet them" in request.messages[-1].content
        show.heard(turn, "Hi everyone, welcome to the stream!")
        for now in (3.0, 10.0, 500.0):  # never again (quiet_s is 1000: no topic either)
            show.voice_up(now)
            assert show.decide() is None
        assert len(greeted(show)) == 1
        assert show.turns.greeting.state is GreetingState.SAID

    def test_it_waits_for_a_voice_still_loading(self) -> None:
        # the tts node joined the bus before its voices had loaded: a greeting asked then went
        # unheard for 10 s (audio_timeout_s) in 3 of 4 real shows
        show = Show(quiet_s=1000)
        loading = Seen("voice", 1, 1, frozenset(TOPICS.values()), loading="voices")
        show.at(2.0, show.turns.registry([loading], "e1", 2.0))
        assert show.decide() is None, "no greeting while the voice loads"
        show.voice_up(3.0)  # the same process, done loading: no restart, and the greeting
        turn = show.decide()
        assert turn is not None and turn.plan.why == "greeting"

    def test_it_waits_for_a_latched_turn_to_settle(self) -> None:
        show = Show()
        show.voice_up(0.2)
        assert show.decide() is None
        show.at(GREETING_SETTLE_S)
        turn = show.decide()
        assert turn is not None and turn.plan.why == "greeting"

    def test_chat_waiting_goes_after_the_greeting(self) -> None:
        show = Show()
        line = chat("hello!", "m1")
        show.at(0.5, show.turns.chat(line, None, 0.5))
        show.voice_up(1.0)
        turn = show.decide(line)
        assert turn is not None and turn.plan.why == "greeting"
        assert show.chat_asked == 0
        show.heard(turn, "Hello stream!")
        turn = show.decide(line)
        assert turn is not None and turn.plan.why == "chat"

    def test_the_other_persona_answers_it_once(self) -> None:
        show = Show(banter_turns=2)
        show.voice_up(1.0)
        turn = show.decide()
        assert turn is not None
        show.heard(turn, "Hi all!")
        answer = show.decide()
        assert answer is not None and (answer.plan.persona, answer.plan.why) == ("rook",
                                                                                 "banter")
        show.heard(answer, "Hello.")
        assert show.decide() is None

    def test_cut_by_the_human_it_is_not_said_again(self) -> None:
        show = Show()
        show.voice_up(1.0)
        turn = show.decide()
        assert turn is not None
        show.human("hi there", start=1.2, stop=2.0)
        answer = show.decide()
        assert answer is not None and answer.plan.why == "human"
        show.heard(answer, "Hi!")
        assert show.decide() is None


class TestOncePerShow:
    def test_a_turn_before_the_voice_was_up_settles_it(self) -> None:
        show = Show()
        show.human("hello?", start=0.0, stop=0.5)
        turn = show.decide()
        assert turn is not None and turn.plan.why == "human"
        assert Log("no greeting: the show began with another turn (human)", 20) in show.outs
        show.heard(turn, "Hi.")
        show.voice_up(3.0)
        assert show.decide() is None and greeted(show) == []

    def test_a_show_under_way_is_not_greeted(self) -> None:
        """A director restarted mid-show: the node hands it the latched turn of the show."""
        show = Show()
        assert show.turns.greeting.show_under_way("rook had the floor")
        show.voice_up(2.0)
        assert show.decide() is None
        assert not show.turns.greeting.show_under_way("again"), "said once"

    def test_its_own_turns_do_not_count_as_a_show_under_way(self) -> None:
        show = Show()
        show.voice_up(1.0)
        turn = show.decide()
        assert turn is not None
        assert not show.turns.greeting.show_under_way("the greeting's own turn, echoed")
        assert show.turns.greeting.state is GreetingState.ASKED
        assert show.turns.greeting.asked == [turn.request_id]


class TestNothingHeard:
    """Seen in the real show on a loaded machine: the first voice was still loading, its TTS
    missed heartbeats (the turn was cut: tts left) or gave no audio within audio_timeout_s;
    the greeting was then never heard, and never asked again."""

    def unheard(self, show: Show, now: float) -> None:
        turn = show.decide()
        assert turn is not None and turn.plan.why == "greeting"
        show.say(turn, "Hello everyone!")  # written, never voiced
        show.tick(now + LIMITS.audio_s + 0.1)  # closed: no audio

    def test_asked_again_then_given_up(self) -> None:
        show = Show()
        show.voice_up(1.0)
        for n in range(GREETING_TRIES):
            self.unheard(show, 1.0 + 20 * n)
            show.at(1.0 + 20 * (n + 1))
        assert show.decide() is None
        assert len(greeted(show)) == GREETING_TRIES
        assert {a.turn.speaker for a in show.of(Announce)} == {"mika"}, "the same persona"
        assert Log(f"no greeting: nothing of it was heard (tried {GREETING_TRIES} times)",
                   20) in show.outs

    def test_heard_in_part_it_is_said(self) -> None:
        show = Show()
        show.voice_up(1.0)
        turn = show.decide()
        assert turn is not None
        show.say(turn, "Hello everyone, welcome to the show!")
        show.play(turn, 0, SAMPLES // 2)
        show.at(1.5, show.turns.human_started(1.5))  # cut, half of it heard
        show.tick(1.5 + GRACE)
        assert show.turns.greeting.state is GreetingState.SAID

    def test_another_turn_went_first_it_is_not_asked_again(self) -> None:
        show = Show()
        show.voice_up(1.0)
        turn = show.decide()
        assert turn is not None
        show.human("hey!", start=1.2, stop=1.3)  # cut before a word was heard
        answer = show.decide()
        assert answer is not None and answer.plan.why == "human"
        show.tick(1.3 + GRACE)
        show.heard(answer, "Hi!")
        assert show.decide() is None and len(greeted(show)) == 1


class TestWhatItSays:
    def test_it_names_the_game_and_the_watched_screen(self) -> None:
        show = Show()
        show.turns.game_state(GameState(game="tictactoe", game_id="g1", turn=""))
        show.at(0.8, show.turns.frame(GameFrame(width=64, height=36, data=b"", scene=1,
                                                 description="a dark cave"), 0.8))
        show.voice_up(1.0)
        turn = show.decide()
        assert turn is not None
        prompt = show.requests()[0].messages[-1].content
        assert "playing tictactoe together and watching the screen with chat" in prompt

    def test_a_finished_game_is_not_named(self) -> None:
        show = Show()
        show.turns.game_state(GameState(game="chess", game_id="g1", finished=True))
        show.voice_up(1.0)
        assert show.decide() is not None
        assert "Today you are" not in show.requests()[0].messages[-1].content


class TestSwitch:
    def test_off_no_greeting_and_on_again_before_it_was_due(self) -> None:
        show = Show()
        show.turns.greeting = Greeting(enabled=False)
        show.voice_up(1.0)
        assert show.decide() is None
        show.turns.greeting.switch(True)
        turn = show.decide()
        assert turn is not None and turn.plan.why == "greeting"

    def test_switching_after_it_was_said_never_greets_twice(self) -> None:
        show = Show()
        show.voice_up(1.0)
        turn = show.decide()
        assert turn is not None
        show.heard(turn, "Hello!")
        show.turns.greeting.switch(False)
        show.turns.greeting.switch(True)
        show.voice_up(5.0)
        assert show.decide() is None and len(greeted(show)) == 1

    def test_a_show_under_way_stays_skipped_when_switched_on(self) -> None:
        greeting = Greeting()
        greeting.show_under_way("mika had the floor")
        greeting.switch(False)
        greeting.switch(True)
        assert greeting.next_turn(5.0, voice_up=True, persona="mika") is None
