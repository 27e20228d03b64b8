"""What a reply must never say aloud (issue 19, measured on the bundled model by
benchmarks/show_quality.py): stage directions, name labels inside the reply, the persona's own
name as a filler, and sentences copied from the recent conversation. Each case below is one
seen in a show; through `ReplyAssembler`, as the node streams a reply."""

from __future__ import annotations

import pytest
from helpers.replies import deltas, run
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.llm.backends.base import Delta
from nodes.llm.reply import ReplyAssembler, SpokenSentence
from nodes.llm.spoken import StageDirections, copied, without_own_name


def said(out: list[SpokenSentence]) -> list[tuple[str, str]]:
    return [(s.text, s.emotion) for s in out]


class TestStageDirections:
    @pytest.mark.parametrize(("text", "expected"), [
        # the case: spoken aloud before, now the emotion it names
        ("(smiling mischievously) Oh, you wish!", [("Oh, you wish!", "happy")]),
        ("*giggles* That tickles!", [("That tickles!", "laughing")]),
        # several words and a terminator inside: one direction, not two sentences
        ("*jumps up and down!* We won!", [("We won!", "excited")]),
        ("I lost again (sighs deeply). Oh well.", [("I lost again.", "sad"),
                                                   ("Oh well.", "sad")]),
        ("[looks at chat] Hi all.", [("Hi all.", "neutral")]),
        # a direction that names no emotion is dropped, the emotion in force stays
        ("[happy] Hi! (waves at the camera) Welcome back.", [("Hi!", "happy"),
                                                              ("Welcome back.", "happy")]),
        # never closed: never spoken
        ("Sure thing. (leans in and whispers", [("Sure thing.", "neutral")]),
    ])
    def test_never_spoken_and_the_emotion_they_name_is_kept(
            self, text: str, expected: list[tuple[str, str]]) -> None:
        assert said(run(ReplyAssembler(), text)) == expected

    def test_a_direction_alone_is_not_a_sentence(self) -> None:
        assert said(run(ReplyAssembler(), "(smiles)\nHello there.")) == [
            ("Hello there.", "happy")]

    @settings(max_examples=300, derandomize=True, print_blob=True)
    @given(st.text(alphabet="ab (*)[]!. ", max_size=60), st.integers(1, 6))
    def test_no_marker_reaches_speech_however_the_stream_is_cut(self, text: str,
                                                               step: int) -> None:
        reply = ReplyAssembler()
        out = []
        for i in range(0, len(text), step):
            out += reply.feed(Delta(text[i:i + step]))
        out += reply.finish()[0]
        assert not any(set(s.text) & set("()*[]") for s in out)

    def test_the_filter_alone_holds_only_an_open_direction(self) -> None:
        directions = StageDirections()
        assert directions.feed("Hi (gri") == "Hi "
        assert directions.feed("nning) there") == "[happy] there"
        assert directions.finish() == ""


class TestNameLabels:
    @pytest.mark.parametrize(("text", "expected"), [
        # a label inside the reply, not only at its start
        ("I like chess. Mika: It is fun.", ["I like chess.", "It is fun."]),
        # a misspelt label: any one word before a colon at a sentence start
        ("mike: Rook, what do you think?", ["Rook, what do you think?"]),
        # after a terminator inside a sentence (a lower-case word does not end one)
        ("Okay! viewer_12: lol. Bye.", ["Okay! lol.", "Bye."]),
    ])
    def test_removed_wherever_a_sentence_starts(self, text: str, expected: list[str]) -> None:
        reply = ReplyAssembler(speaker_names={"mika", "Rook"}, persona="mika")
        assert [s.text for s in run(reply, text)] == expected

    def test_another_speaker_s_label_ends_the_reply(self) -> None:
        # the model began writing Rook's line: none of it is Mika's to say
        reply = ReplyAssembler(speaker_names={"mika", "Rook"}, persona="mika")
        assert [s.text for s in run(reply, "Sure! Rook: No way. That is silly.")] == ["Sure!"]
        assert reply.enough

    def test_a_label_on_a_new_line_ends_the_reply_whoever_it_names(self) -> None:
        # the storyteller of the cancel tests: 300 tokens of "dragon1:" lines, nothing said,
        # until the token limit; now the second line's label ends it at once
        reply = ReplyAssembler(speaker_names={"chatty", "viewer42"}, persona="chatty")
        out = []
        for delta in deltas("dragon1:\n\ndragon1:\n\ndragon1:\n\n" * 10):
            out += reply.feed(delta)
            if reply.enough:
                break
        assert out == [] and reply.enough and reply.silenced
        reply = ReplyAssembler(speaker_names={"mika", "Rook"}, persona="mika")
        assert [s.text for s in run(reply, "Sure thing\nviewer5: lol, and more")] == [
            "Sure thing"]
        assert reply.enough

    @pytest.mark.parametrize("text", ["Hello there\nand more words.", "Two steps:\n1: go left.",
                                      "Wait\nfor it!"])
    def test_a_new_line_without_a_label_goes_on(self, text: str) -> None:
        reply = ReplyAssembler(speaker_names={"mika", "Rook"}, persona="mika")
        spoken = " ".join(s.text for s in run(reply, text))
        assert spoken.split() == text.split() and not reply.enough

    def test_a_colon_inside_a_sentence_stays(self) -> None:
        reply = ReplyAssembler(speaker_names={"mika", "Rook"}, persona="mika")
        assert [s.text for s in run(reply, "The score was 3:1 for us.")] == [
            "The score was 3:1 for us."]


class TestOwnName:
    @pytest.mark.parametrize(("text", "expected"), [
        ("Mika!", ""),
        ("Mika here, hello chat!", "Hello chat!"),
        ("I'm Mika and I love games.", "I love games."),
        ("Hi, it's Mika!", "Hi!"),
        ("That was fun, Mika.", "That was fun."),
        ("Mika's favourite game is Pong.", "My favourite game is Pong."),
        ("Go, go, MIKA, go!", "Go, go, go!"),
        ("Mikado is a game.", "Mikado is a game."),  # another word
    ])
    def test_removed_from_her_own_lines(self, text: str, expected: str) -> None:
        assert without_own_name(text, "Mika") == expected

    def test_through_the_reply(self) -> None:
        reply = ReplyAssembler(speaker_names={"mika", "Rook"}, persona="mika")
        assert [s.text for s in run(reply, "Mika! I love Pong, Mika does.")] == [
            "I love Pong does."]


class TestRepeats:
    RECENT = ("alice: Hi Mika! What is your favourite game?",
              "Rook: That's a game that's both fun and challenging, and I'm glad you enjoyed it.")

    @pytest.mark.parametrize(("sentence", "copy"), [
        ("What is your favourite game?", True),  # the viewer's question parroted
        ("That's a game that's both fun and challenging.", True),  # most of a line
        ("That's a game that's both exciting and challenging, and I'm glad you enjoyed it.",
         True),  # one word changed
        ("I love Pong.", False),
        ("My favourite game is Pong, it is fun.", False),
        ("Yes it is.", False),  # short sentences recur
        ("Thank you!", False),
        ("Yes!", False),
    ])
    def test_copies_of_recent_lines(self, sentence: str, copy: bool) -> None:
        assert copied(sentence, self.RECENT) is copy

    def test_a_short_sentence_said_again_word_for_word(self) -> None:
        # a show fell into "No, no, no!" from both personas, ten turns running
        recent = ["Mika: No, no, no!", "I'm not sure. It is a mix.", "Rook: I'm sorry."]
        assert copied("No, no, NO.", recent) and copied("I'm not sure!", recent)
        assert copied("I'm sorry!", recent)
        assert not copied("No, no.", recent) and not copied("I'm quite sure.", recent)

    def test_a_name_alone_is_not_a_sentence(self) -> None:
        # Mika said "Rook!" in most of her turns
        reply = ReplyAssembler(speaker_names={"mika", "Rook"}, persona="mika")
        assert [s.text for s in run(reply, "Rook! Rook, what do you mean?")] == [
            "Rook, what do you mean?"]

    def test_cut_from_the_reply_and_within_it(self) -> None:
        reply = ReplyAssembler(recent=self.RECENT)
        out = run(reply, "What is your favourite game? I love Pong so much. "
                         "I love Pong so much! Bye.")
        assert [s.text for s in out] == ["I love Pong so much.", "Bye."]
        assert [s.index for s in out] == [0, 1]
