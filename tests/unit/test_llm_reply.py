"""A reply assembled from streamed deltas: sentences, emotions, limits, held-back tool calls."""

from __future__ import annotations

from helpers.replies import deltas, run

from nodes.llm.backends.base import Delta
from nodes.llm.reply import ReplyAssembler, SpokenSentence


class TestSentences:
    def test_numbered_with_emotions_carried(self) -> None:
        out = run(ReplyAssembler(), "[happy] Hi chat! Good to see you. [sad] Sadly, bye.")
        assert out == [
            SpokenSentence(0, "Hi chat!", "happy"),
            SpokenSentence(1, "Good to see you.", "happy"),
            SpokenSentence(2, "Sadly, bye.", "sad"),
        ]

    def test_sentences_leave_while_streaming(self) -> None:
        reply = ReplyAssembler()
        released = [len(reply.feed(d)) for d in deltas("One. Two. Three.")]
        assert sum(released) == 2  # the last waits for the end of the stream
        assert [s.text for s in reply.finish()[0]] == ["Three."]

    def test_tag_only_sentences_are_not_spoken(self) -> None:
        out = run(ReplyAssembler(), "[excited]\nLet's go!")
        assert out == [SpokenSentence(0, "Let's go!", "excited")]

    def test_spoken_text_joins_what_was_released(self) -> None:
        reply = ReplyAssembler()
        run(reply, "[happy] A. B 😄. C")
        assert reply.spoken_text == "A. B. C"


class TestSentenceLimit:
    def test_enough_after_max_sentences_and_nothing_more(self) -> None:
        reply = ReplyAssembler(max_sentences=2)
        out = run(reply, "One. Two. Three. Four.")
        assert [s.text for s in out] == ["One.", "Two."]
        assert reply.enough


class TestToolCalls:
    def test_a_json_reply_is_held_back_and_parsed(self) -> None:
        reply = ReplyAssembler(tool_names={"move"})
        spoken = [s for d in deltas('{"name": "move", "arguments": {"direction": "left"}}')
                  for s in reply.feed(d)]
        sentences, calls = reply.finish()
        assert spoken == [] and sentences == []
        assert [(c.name, c.arguments) for c in calls] == [("move", {"direction": "left"})]

    def test_a_tag_is_not_mistaken_for_a_call(self) -> None:
        reply = ReplyAssembler(tool_names={"move"})
        out = run(reply, "[happy] Moving now. Watch.")
        assert [s.text for s in out] == ["Moving now.", "Watch."]

    def test_streamed_tool_call_deltas_are_collected(self) -> None:
        reply = ReplyAssembler(tool_names={"move"})
        reply.feed(Delta(tool_calls=[{"index": 0, "id": "c1",
                                      "function": {"name": "move", "arguments": "{}"}}]))
        sentences, calls = reply.finish()
        assert sentences == [] and [(c.call_id, c.name) for c in calls] == [("c1", "move")]

    def test_without_tools_json_is_spoken(self) -> None:
        out = run(ReplyAssembler(), '{"a": 1} is JSON.')
        assert [s.text for s in out] == ['{"a": 1} is JSON.']


class TestSpeakerLabel:
    def test_the_persona_s_own_label_is_removed(self) -> None:
        out = run(ReplyAssembler(speaker_names=("rook", "Rook")), "Rook: Hello. Bye.")
        assert [s.text for s in out] == ["Hello.", "Bye."]

    def test_a_label_split_over_tokens_is_removed(self) -> None:
        reply = ReplyAssembler(speaker_names=("mika",))
        for piece in ("Mi", "ka", ":", " Hi", " there", ".", " Ok"):
            reply.feed(Delta(piece))
        assert [s.text for s in reply.sentences] == ["Hi there."]

    def test_any_one_word_label_is_removed(self) -> None:
        # issue 19: "mike: Rook, ..." was read out; a label need not be a known name
        out = run(ReplyAssembler(speaker_names=("rook",)), "Mika: is great.")
        assert [s.text for s in out] == ["is great."]

    def test_a_word_starting_like_the_name_is_kept(self) -> None:
        out = run(ReplyAssembler(speaker_names=("rook",)), "Rookies win.")
        assert [s.text for s in out] == ["Rookies win."]

    def test_a_label_before_a_json_call(self) -> None:
        reply = ReplyAssembler(tool_names={"move"}, speaker_names=("rook",))
        for d in deltas('Rook: {"name": "move", "arguments": {}}'):
            reply.feed(d)
        sentences, calls = reply.finish()
        assert sentences == [] and [c.name for c in calls] == ["move"]


class TestAsWritten:
    """What the persona's next prompt repeats of its reply: the text its KV cache holds."""

    def test_tags_and_spacing_as_the_model_wrote_them(self) -> None:
        reply = ReplyAssembler()
        run(reply, "[happy] Hi chat!  Good to see you.")
        assert reply.spoken_text == "Hi chat! Good to see you."
        assert reply.as_written == "[happy] Hi chat!  Good to see you."

    def test_stopped_at_the_sentence_limit_it_ends_with_the_last_spoken_sentence(self) -> None:
        reply = ReplyAssembler(max_sentences=1)
        for delta in deltas("One thing. Another"):
            reply.feed(delta)
        assert reply.enough and reply.as_written == "One thing."

    def test_nothing_when_a_label_was_removed_or_the_reply_was_a_call(self) -> None:
        labelled = ReplyAssembler(speaker_names={"Rook"})
        run(labelled, "Rook: Hello there.")
        assert labelled.spoken_text == "Hello there." and labelled.as_written is None
        call = ReplyAssembler(tool_names={"wave"})
        run(call, '{"name": "wave", "arguments": {}}')
        assert call.as_written is None
        assert ReplyAssembler().as_written is None  # nothing said


def test_a_first_clause_does_not_count_towards_the_sentence_limit() -> None:
    reply = ReplyAssembler(max_sentences=2, first_clause_chars=16)
    out = run(reply, "[happy] I think we should play Minecraft, it is cozy. Then chess. No.")
    assert [s.text for s in out] == ["I think we should play Minecraft,", "it is cozy.",
                                     "Then chess."]
    assert all(s.emotion == "happy" for s in out)
