"""Emotion tags and emoji parsed out of spoken sentences."""

from __future__ import annotations

import pytest

from nodes.llm.emotion import EmotionTracker, normalise, parse


class TestParse:
    @pytest.mark.parametrize(
        ("sentence", "text", "emotion"),
        [
            # a tag at the start, the usual case
            ("[happy] Hi there!", "Hi there!", "happy"),
            # case and spaces inside the brackets do not matter
            ("[ Excited ] Let's go!", "Let's go!", "excited"),
            # a tag in the middle or at the end
            ("Oh no [sad] that is bad.", "Oh no that is bad.", "sad"),
            ("That is bad [sad].", "That is bad.", "sad"),
            # synonyms map to the known set
            ("[joyful] Yay.", "Yay.", "happy"),
            ("[shocked] What?", "What?", "surprised"),
            # asterisk actions are removed; a known one gives the emotion
            ("*laugh* You got me.", "You got me.", "laughing"),
            ("*waves hand* Hello.", "Hello.", None),
            # an unknown tag is removed and gives no emotion
            ("[laughs] Funny.", "Funny.", None),
            # the first known tag wins
            ("[bogus] [angry] [happy] Grr.", "Grr.", "angry"),
            # emoji are never spoken; a face gives the emotion when there is no tag
            ("Great! 😄", "Great!", "happy"),
            ("So sad 😭 today.", "So sad today.", "sad"),
            ("[angry] Stop 😄 it.", "Stop it.", "angry"),
            ("Cats 🐱🐱 rule.", "Cats rule.", None),
            ("Nice 👍🏽.", "Nice.", None),
            # plain text passes unchanged
            ("Nothing to see here.", "Nothing to see here.", None),
            # brackets that are not a tag stay (numbers, long phrases)
            ("See note [1] below.", "See note [1] below.", None),
            # only a tag: nothing left to say
            ("[happy]", "", "happy"),
        ],
    )
    def test_text_and_emotion(self, sentence: str, text: str, emotion: str | None) -> None:
        spoken = parse(sentence)
        assert (spoken.text, spoken.emotion) == (text, emotion)

    def test_normalise_refuses_non_emotions(self) -> None:
        assert normalise("Smug") == "smug"
        assert normalise("table") is None


class TestTracker:
    def test_an_emotion_carries_to_untagged_sentences(self) -> None:
        tracker = EmotionTracker()
        assert tracker.spoken("Hello.").emotion == "neutral"
        assert tracker.spoken("[happy] Yay!").emotion == "happy"
        assert tracker.spoken("Still good.").emotion == "happy"
        assert tracker.spoken("[sad] Oh.").emotion == "sad"
        assert tracker.spoken("Hm.").emotion == "sad"

    def test_a_tag_alone_sets_the_next_sentence(self) -> None:
        tracker = EmotionTracker()
        assert tracker.spoken("[surprised]").text == ""
        assert tracker.spoken("Whoa.").emotion == "surprised"
