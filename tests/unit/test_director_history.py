"""What the director remembers a persona said: only what was heard."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.director.cast import CastError, load_cast
from nodes.director.history import Conversation, Line, SpokenSentence, audible_text, shorten


class TestAudibleText:
    def test_finished_sentences_count_whole(self) -> None:
        sentences = [SpokenSentence(0, "Hello there.", 100, True, 100, True),
                     SpokenSentence(1, "How are you?", 100, True, 100, True)]
        assert audible_text(sentences) == "Hello there. How are you?"

    def test_cut_sentence_keeps_the_share_heard(self) -> None:
        sentences = [SpokenSentence(0, "One.", 50, True, 50, True),
                     SpokenSentence(1, "two three four five", 400, True, 200, False),
                     SpokenSentence(2, "never played", 100, True, 0, False)]
        assert audible_text(sentences) == "One. two three"

    def test_unheard_turn_is_empty(self) -> None:
        assert audible_text([SpokenSentence(0, "Not yet.", 100, False, 0, False)]) == ""

    def test_order_by_index(self) -> None:
        sentences = [SpokenSentence(1, "second", 1, True, 1, True),
                     SpokenSentence(0, "first", 1, True, 1, True)]
        assert audible_text(sentences) == "first second"


class TestConversation:
    def test_empty_lines_are_never_stored(self) -> None:
        talk = Conversation()
        talk.add(Line("Mika", "  ", persona="mika"))
        assert talk.last_line() is None

    def test_each_persona_sees_its_own_side(self) -> None:
        talk = Conversation()
        talk.add(Line("alice", "hi both"))
        talk.add(Line("Mika", "Hi Alice!", persona="mika"))
        talk.add(Line("Rook", "Hello", persona="rook", cut_off=True))
        seen = [(t.role, t.content) for t in talk.as_seen_by("mika")]
        assert seen == [("user", "alice: hi both"), ("assistant", "Hi Alice!"),
                        ("user", "Rook: Hello (cut off)")]

    def test_a_line_added_again_moves_to_the_end(self) -> None:
        talk = Conversation()
        talk.add(Line("carol", "favourite food?", source="chat:twitch:4"))
        talk.add(Line("Collaborator", "one moment", source="u2"))
        talk.add(Line("carol", "favourite food?", source="chat:twitch:4"))  # answered now
        assert [line.speaker for line in talk.lines] == ["Collaborator", "carol"]

    def test_past_the_limit_the_oldest_half_goes_at_once(self) -> None:
        talk = Conversation(limit=4)
        starts = []
        for i in range(9):
            talk.add(Line("a", str(i)))
            starts.append(talk.lines[0].text)
        # the start of the conversation changes on two turns of nine, not on every one
        assert starts == ["0", "0", "0", "0", "3", "3", "3", "6", "6"]
        assert [line.text for line in talk.lines] == ["6", "7", "8"]

    def test_past_max_chars_the_oldest_go_down_to_half(self) -> None:
        talk = Conversation(max_chars=100)
        for i in range(5):
            talk.add(Line("a", f"{i}" * 30))
        assert [line.text[0] for line in talk.lines] == ["3", "4"]  # 120 > 100: down to 50+
        talk.add(Line("a", "x" * 500))  # one line longer than the limit stays
        assert [line.text[0] for line in talk.lines] == ["x"]


class TestCast:
    def test_default(self) -> None:
        assert [m.name for m in load_cast()] == ["mika", "rook"]

    def test_reads_the_llm_persona_file_and_ignores_its_fields(self, tmp_path: Path) -> None:
        path = tmp_path / "personas.toml"
        path.write_text('[[persona]]\nname = "a"\nsystem_prompt = "x"\nvoice = "v1"\n'
                        '[persona.sampling]\ntemperature = 0.5\n'
                        '[[persona]]\nname = "b"\nsystem_prompt = "y"\n')
        cast = load_cast(path)
        assert [(m.name, m.voice) for m in cast] == [("a", "v1"), ("b", "")]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('[[persona]]\nname = "a"\n', "a show needs two personas, found 1"),
            ('[[persona]]\nname = "a"\n[[persona]]\nname = "a"\n', "persona names repeat"),
            ("[[persona]\n", "not TOML"),
            ('[[persona]]\nname = 3\n[[persona]]\nname = "b"\n', "Expected `str`, got `int`"),
        ],
    )
    def test_bad_files(self, tmp_path: Path, text: str, message: str) -> None:
        path = tmp_path / "personas.toml"
        path.write_text(text)
        with pytest.raises(CastError, match=message):
            load_cast(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(CastError, match="No such file"):
            load_cast(tmp_path / "nope.toml")


class TestMemoriesForThePrompt:
    def test_the_conversation_knows_what_it_holds(self) -> None:
        talk = Conversation()
        talk.add(Line("alice", "hi", source="chat:twitch:1"))
        talk.add(Line("Mika", "hello", persona="mika", source="req-1"))
        talk.add(Line("Rook", "", persona="rook", source="req-2"))  # empty: not stored
        assert talk.sources() == {"chat:twitch:1", "req-1"}

    @pytest.mark.parametrize(
        ("text", "limit", "expected"),
        [
            ("short enough", 40, "short enough"),
            ("one two three four", 10, "one two…"),  # cut at a word
        ],
    )
    def test_long_memories_are_shortened(self, text: str, limit: int, expected: str) -> None:
        assert shorten(text, limit) == expected
