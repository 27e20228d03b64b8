"""Who is talking in the room, on a fake clock: the enrolled collaborator by ``human_name``,
anyone else "Someone in the room", answered or only heard (``room_takes_floor``).

Before labels were used every transcript was the human's: the conversation named an unknown
voice by ``human_name`` and answered it, and its onset cut a persona whatever the setting
(the tests below that expect "Someone in the room", a line not answered or a persona not cut
failed)."""

from __future__ import annotations

from helpers.director import Show

from messages.speech import Transcript
from nodes.director.decisions import Count, Stop
from nodes.director.voices import ROOM, Voices


def show_with(*, enrolled: bool, room_takes_floor: bool = True) -> Show:
    show = Show()
    show.turns.voices = Voices("Alex", room_takes_floor=room_takes_floor,
                               enrolled_on_bus=enrolled)
    return show


class TestLabels:
    def test_nobody_enrolled_every_voice_is_the_collaborator(self) -> None:
        show = show_with(enrolled=False)
        show.human("hello mika", start=0, stop=0.5, speaker="unknown")
        turn = show.decide()
        assert turn is not None and turn.plan.why == "human"
        assert show.requests()[0].messages[-1].content == "Alex: hello mika"

    def test_the_enrolled_voice_is_called_by_human_name(self) -> None:
        # the stt node labels it with its own speaker_name ("collaborator" by default)
        show = show_with(enrolled=True)
        show.human("hello rook", start=0, stop=0.5, speaker="collaborator")
        assert show.decide() is not None
        assert show.requests()[0].messages[-1].content == "Alex: hello rook"
        (said,) = show.remembered("u1")
        assert said.speaker == "Alex"

    def test_anyone_else_is_someone_in_the_room_and_may_take_the_floor(self) -> None:
        show = show_with(enrolled=True)
        show.human("who are you two?", start=0, stop=0.5, speaker="unknown")
        turn = show.decide()
        assert turn is not None and turn.plan.why == "human"
        assert show.requests()[0].messages[-1].content == f"{ROOM}: who are you two?"

    def test_a_labelled_transcript_proves_an_enrolment(self) -> None:
        show = show_with(enrolled=False, room_takes_floor=False)
        show.human("hi", "u1", start=0, stop=0.5, speaker="Alex")
        turn = show.decide()
        assert turn is not None
        show.heard(turn, "Hi Alex.")
        show.human("hey", "u2", start=2, stop=2.5, speaker="unknown")
        assert show.decide() is None
        assert show.turns.conversation.lines[-1].speaker == ROOM


class TestRoomOffTheFloor:
    def test_their_words_are_context_not_answered(self) -> None:
        show = show_with(enrolled=True, room_takes_floor=False)
        show.human("the pizza is here", "u7", start=0, stop=0.5, speaker="unknown")
        assert show.decide() is None, "not answered"
        assert Count("room_lines_unanswered") in show.outs
        (said,) = show.remembered("u7")
        assert (said.speaker, said.text) == (ROOM, "the pizza is here")
        assert show.turns.free(0.6), "the floor is given back at once"
        # the next reply sees it as context
        show.chat_turn("what's up?", "m1", now=1.0)
        contents = [m.content for m in show.requests()[0].messages]
        assert contents[-2:] == [f"{ROOM}: the pizza is here", "ann: what's up?"]

    def test_their_voice_does_not_cut_a_persona(self) -> None:
        show = show_with(enrolled=True, room_takes_floor=False)
        turn = show.chat_turn("tell a story", "m1")
        show.say(turn, "Once upon a time.")
        show.at(1.0, show.turns.human_started(1.0))
        assert show.stopped() == []
        assert show.turns.current is turn
        show.human_stops("can I have the remote", stop=2.0, speaker="unknown")
        assert show.stopped() == [] and show.turns.current is turn
        show.play(turn, 0, 1000, "finished")
        assert show.turns.current is None and not turn.cut_off

    def test_the_collaborators_words_cut_the_persona_their_voice_did_not(self) -> None:
        show = show_with(enrolled=True, room_takes_floor=False)
        turn = show.chat_turn("tell a story", "m1")
        show.say(turn, "Once upon a time.")
        show.at(1.0, show.turns.human_started(1.0))
        assert not show.turns.free(1.5), "nobody new starts over a voice"
        show.human_stops("mika, stop there", "u3", stop=2.0, speaker="collaborator")
        assert show.stopped() == [turn.request_id]
        show.at(2.5)
        answer = show.decide()
        assert answer is not None and (answer.plan.persona, answer.plan.why) == ("mika",
                                                                                 "human")
        assert show.requests()[-1].messages[-1].content == "Alex: mika, stop there"

    def test_late_words_never_cut_a_turn_that_began_after_the_voice(self) -> None:
        show = show_with(enrolled=True, room_takes_floor=False)
        first = show.chat_turn("tell a story", "m1")
        show.say(first, "Once upon a time.")
        show.at(1.0, show.turns.human_started(1.0))
        show.play(first, 0, 1000, "finished")  # heard to its end over the voice
        show.turns.human_stopped(1.5)
        second = show.chat_turn("and then?", "m2", now=4.0)  # the words were late
        show.at(4.5, show.turns.human_said(Transcript(
            utterance_id="u4", text="nice one", final=True, speaker="collaborator"), None, 4.5))
        assert show.stopped() == [] and show.turns.current is second

    def test_nobody_enrolled_the_onset_cuts_as_before(self) -> None:
        show = show_with(enrolled=False, room_takes_floor=False)
        turn = show.chat_turn("tell a story", "m1")
        show.say(turn, "Once upon a time.")
        show.at(1.0, show.turns.human_started(1.0))
        assert show.stopped() == [turn.request_id]

    def test_room_on_the_onset_cuts_at_once(self) -> None:
        show = show_with(enrolled=True, room_takes_floor=True)
        turn = show.chat_turn("tell a story", "m1")
        show.at(1.0, show.turns.human_started(1.0))
        assert show.stopped() == [turn.request_id]
        show.human_stops("sorry, who's winning?", stop=2.0, speaker="unknown")
        assert len(show.of(Stop)) == 1, "their words cut nothing more"
        show.at(2.5)
        answer = show.decide()
        assert answer is not None and answer.plan.why == "human"
        assert show.requests()[-1].messages[-1].content == f"{ROOM}: sorry, who's winning?"
