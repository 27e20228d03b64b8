"""Streaming sentence segmentation: where sentences end, fed whole, by tokens, or by chars."""

from __future__ import annotations

import random
import re

import pytest

from nodes.llm.sentences import SentenceSegmenter, split_sentences


def tokens(text: str) -> list[str]:
    """Split like a BPE tokenizer does for English: words carry their leading space,
    punctuation comes on its own."""
    return re.findall(r"\s*[\w']+|\s*[^\w\s]|\s+", text)


def streamed(text: str, pieces: list[str] | None = None, **kwargs: int) -> list[str]:
    segmenter = SentenceSegmenter(**kwargs)
    out: list[str] = []
    for piece in pieces if pieces is not None else tokens(text):
        out += segmenter.feed(piece)
    return out + segmenter.flush()


CASES = [
    # (text, expected sentences)
    # plain terminators
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("Wow! That is great.", ["Wow!", "That is great."]),
    ("Really?! No way!!", ["Really?!", "No way!!"]),
    ("One sentence without an end", ["One sentence without an end"]),
    # decimals, numbers, addresses: a dot with no space after it ends nothing
    ("Pi is 3.14 roughly. Nice.", ["Pi is 3.14 roughly.", "Nice."]),
    ("It costs $4.99 today. Buy it.", ["It costs $4.99 today.", "Buy it."]),
    ("Version 2.0.1 is out. Update now.", ["Version 2.0.1 is out.", "Update now."]),
    ("Visit example.com today. Ok?", ["Visit example.com today.", "Ok?"]),
    ("It costs $3. That is cheap.", ["It costs $3.", "That is cheap."]),
    ("It was 1999. Good times.", ["It was 1999.", "Good times."]),
    # abbreviations and initials
    ("Dr. Smith is here. Hi.", ["Dr. Smith is here.", "Hi."]),
    ("Mr. and Mrs. Jones left. Bye.", ["Mr. and Mrs. Jones left.", "Bye."]),
    ("I met J. R. R. Tolkien once. Cool.", ["I met J. R. R. Tolkien once.", "Cool."]),
    ("Use e.g. a sword. Or not.", ["Use e.g. a sword.", "Or not."]),
    ("Fruit, vegetables, etc. The end.", ["Fruit, vegetables, etc.", "The end."]),
    ("Bring snacks, drinks etc. and games.", ["Bring snacks, drinks etc. and games."]),
    ("We met in the U.S. in May. Fun.", ["We met in the U.S. in May.", "Fun."]),
    ("It weighs approx. three kilos. Heavy.", ["It weighs approx. three kilos.", "Heavy."]),
    ("Team A vs. Team B tonight. Watch.", ["Team A vs. Team B tonight.", "Watch."]),
    ("Call me at 5 p.m. Tomorrow works.", ["Call me at 5 p.m.", "Tomorrow works."]),
    ("A.I. is here. Yes.", ["A.I. is here.", "Yes."]),
    ("He is 6 ft. tall. Wow.", ["He is 6 ft. tall.", "Wow."]),
    ("Use e.g., a sword. OK.", ["Use e.g., a sword.", "OK."]),
    # ellipses: a lowercase word after them continues the sentence
    ("I was... thinking. Hm.", ["I was... thinking.", "Hm."]),
    ("Wait... What was that?", ["Wait...", "What was that?"]),
    ("Well… maybe. Sure.", ["Well… maybe.", "Sure."]),
    ("So... Yes.", ["So...", "Yes."]),
    # quotes and brackets close with their sentence
    ('He said "Hi." Then he left.', ['He said "Hi."', "Then he left."]),
    ('"Wow!" she said. Then silence.', ['"Wow!" she said.', "Then silence."]),
    ("She yelled “Run!” Everyone ran.", ["She yelled “Run!”", "Everyone ran."]),
    ("It was fun (really.) Next.", ["It was fun (really.)", "Next."]),
    ('She left. "Wait!" he cried.', ["She left.", '"Wait!" he cried.']),
    ("It's 'great.' Right?", ["It's 'great.'", "Right?"]),
    ('I said "wait..." and left. OK.', ['I said "wait..." and left.', "OK."]),
    ("Is it (really?) Yes.", ["Is it (really?)", "Yes."]),
    # emoji: after a terminator they stay; before a capital they end the sentence
    ("Great! 😄 Next one.", ["Great! 😄", "Next one."]),
    ("I love it 😄 What about you?", ["I love it 😄", "What about you?"]),
    ("So cute 🐱🐱 and small.", ["So cute 🐱🐱 and small."]),
    ("Thumbs up 👍🏽. Done.", ["Thumbs up 👍🏽.", "Done."]),
    ("I ❤️ you. Bye.", ["I ❤️ you.", "Bye."]),
    ("Wow!!😂😂 Amazing.", ["Wow!!😂😂", "Amazing."]),
    # emotion tags stay at the start of their sentence (parsed out later)
    ("[happy] Hi! [sad] Bye.", ["[happy] Hi!", "[sad] Bye."]),
    ("Nice. [surprised] Whoa!", ["Nice.", "[surprised] Whoa!"]),
    # line breaks end sentences; list numbers at a line start do not
    ("First line\nSecond line", ["First line", "Second line"]),
    ("1. Apples\n2. Pears", ["1. Apples", "2. Pears"]),
    ("Steps:\n\n1. Jump. 2. Run.", ["Steps:", "1. Jump.", "2. Run."]),
    # a lowercase word after a terminator continues (models rarely start sentences lowercase)
    ('"Hi!" said the cat.', ['"Hi!" said the cat.']),
    ("Is it? yes it is.", ["Is it? yes it is."]),
    # whitespace only
    ("   \n  ", []),
]


class TestBoundaries:
    @pytest.mark.parametrize(("text", "expected"), CASES)
    def test_whole_text(self, text: str, expected: list[str]) -> None:
        assert split_sentences(text) == expected

    @pytest.mark.parametrize(("text", "expected"), CASES)
    def test_token_by_token_gives_the_same(self, text: str, expected: list[str]) -> None:
        assert streamed(text) == expected

    @pytest.mark.parametrize(("text", "expected"), CASES)
    def test_char_by_char_gives_the_same(self, text: str, expected: list[str]) -> None:
        assert streamed(text, list(text)) == expected

    def test_random_chunking_gives_the_same(self) -> None:
        text = " ".join(t for t, _ in CASES)
        whole = split_sentences(text)
        seed = random.randrange(1 << 30)
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(text)), 60))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert streamed(text, pieces) == whole, f"seed {seed}"


class TestStreaming:
    def test_a_sentence_leaves_as_soon_as_the_next_word_starts(self) -> None:
        segmenter = SentenceSegmenter()
        assert segmenter.feed("Hello") == []
        assert segmenter.feed(" there") == []
        assert segmenter.feed(".") == []  # could be 3.14 or "there." + quote: wait
        assert segmenter.feed(" How") == ["Hello there."]
        assert segmenter.pending == "How"

    def test_a_trailing_decimal_waits_for_its_digits(self) -> None:
        segmenter = SentenceSegmenter()
        assert segmenter.feed("Pi is 3.") == []
        assert segmenter.feed("14 exactly.") == []
        assert segmenter.feed(" Yes") == ["Pi is 3.14 exactly."]

    def test_an_ellipsis_waits_for_the_next_word(self) -> None:
        segmenter = SentenceSegmenter()
        assert segmenter.feed("I was... ") == []
        assert segmenter.feed("thinking. ") == []
        assert segmenter.feed("Ok") == ["I was... thinking."]

    def test_flush_returns_the_rest_and_empties(self) -> None:
        segmenter = SentenceSegmenter()
        segmenter.feed("Half a sent")
        assert segmenter.flush() == ["Half a sent"]
        assert segmenter.flush() == []

    def test_reset_forgets_pending_text(self) -> None:
        segmenter = SentenceSegmenter()
        segmenter.feed("Old reply, cut off")
        segmenter.reset()
        assert segmenter.feed("New one. ") == []
        assert segmenter.flush() == ["New one."]


class TestLongSentences:
    RUN_ON = ("This sentence keeps going, and it goes on with more words; it never seems to "
              "end at all because the model loves commas and clauses and more clauses")

    def test_cut_at_the_last_clause_within_the_limit(self) -> None:
        parts = split_sentences(self.RUN_ON, max_chars=80)
        assert parts[0] == "This sentence keeps going, and it goes on with more words;"
        assert all(len(p) <= 80 for p in parts)
        assert " ".join(parts) == self.RUN_ON

    def test_cut_at_a_space_when_there_is_no_clause(self) -> None:
        text = "word " * 30
        parts = split_sentences(text, max_chars=40)
        assert all(len(p) <= 40 for p in parts)
        assert " ".join(parts).split() == text.split()

    def test_a_giant_word_is_cut_at_the_limit(self) -> None:
        parts = split_sentences("x" * 100, max_chars=40)
        assert parts == ["x" * 40, "x" * 40, "x" * 20]

    def test_a_long_sentence_leaves_while_streaming(self) -> None:
        segmenter = SentenceSegmenter(max_chars=80)
        out: list[str] = []
        for piece in tokens(self.RUN_ON):
            out += segmenter.feed(piece)
        assert out, "a run-on sentence must not wait for its end"
        assert out[0].endswith("words;")

    def test_no_fragment_shorter_than_min_clause(self) -> None:
        parts = split_sentences("Oh, " + "and then " * 20, max_chars=60)
        assert parts[0] != "Oh,"

    def test_max_chars_below_20_is_refused(self) -> None:
        with pytest.raises(ValueError, match="max_chars must be at least 20, got 5"):
            SentenceSegmenter(max_chars=5)


class TestFirstClause:
    """The first sentence may leave at its first clause, so speech starts sooner."""

    TEXT = "I think we should play Minecraft, because it is cozy. Then, maybe, chess."

    def test_the_first_sentence_leaves_at_its_first_clause(self) -> None:
        assert streamed(self.TEXT, first_clause_chars=16) == [
            "I think we should play Minecraft,", "because it is cozy.", "Then, maybe, chess."]

    def test_it_leaves_as_soon_as_the_next_word_begins(self) -> None:
        segmenter = SentenceSegmenter(first_clause_chars=16)
        assert segmenter.feed("I think we should play Minecraft,") == []
        assert segmenter.feed(" ") == []
        assert segmenter.feed("because") == ["I think we should play Minecraft,"]
        assert segmenter.clauses == 1

    def test_a_clause_too_early_waits_for_the_sentence(self) -> None:
        assert streamed("Oh, hi Alice. Yes, you.", first_clause_chars=16) == [
            "Oh, hi Alice.", "Yes, you."]

    def test_off_by_default_and_back_after_a_reset(self) -> None:
        assert streamed(self.TEXT)[0] == "I think we should play Minecraft, because it is cozy."
        segmenter = SentenceSegmenter(first_clause_chars=16)
        for token in tokens(self.TEXT):
            segmenter.feed(token)
        segmenter.reset()
        assert segmenter.clauses == 0
        assert next(out for token in tokens(self.TEXT) for out in segmenter.feed(token)) == (
            "I think we should play Minecraft,")

    def test_a_sentence_already_whole_leaves_whole(self) -> None:
        # the clause is for a sentence still being written: cutting a whole one gains nothing
        segmenter = SentenceSegmenter(first_clause_chars=16)
        assert segmenter.feed(self.TEXT) == [
            "I think we should play Minecraft, because it is cozy."]
