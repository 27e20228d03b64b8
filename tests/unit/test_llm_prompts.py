"""The prompts' pure parts (nodes/llm/prompts.py): the small style's recent history and the
stop strings at other speakers' labels."""

from __future__ import annotations

import itertools

from nodes.llm.personas import DEFAULT_PERSONAS
from nodes.llm.prompts import (
    MAX_LABEL_STOPS,
    SMALL_HISTORY_LINES,
    SMALL_HISTORY_STEP,
    example_messages,
    label_stops,
    recent_block,
)


class TestRecentBlock:
    def test_short_conversations_go_in_whole(self) -> None:
        assert recent_block(list(range(SMALL_HISTORY_LINES))) == list(
            range(SMALL_HISTORY_LINES))

    def test_the_first_line_kept_moves_only_every_step(self) -> None:
        firsts = [recent_block(list(range(n)))[0] for n in range(1, 60)]
        for n, first in enumerate(firsts, 1):
            kept = n - first
            assert kept <= SMALL_HISTORY_LINES
            assert kept > SMALL_HISTORY_LINES - SMALL_HISTORY_STEP or n <= SMALL_HISTORY_LINES
        # the start changes once in a step (the cached prompt holds meanwhile)
        changes = sum(a != b for a, b in itertools.pairwise(firsts))
        assert changes == -(-(59 - SMALL_HISTORY_LINES) // SMALL_HISTORY_STEP)


class TestLabelStops:
    def test_each_name_on_a_new_line_as_written_and_capitalised(self) -> None:
        assert label_stops(["Rook", "alice", "ROOK"]) == [
            "\nRook:", "\nrook:", "\nalice:", "\nAlice:"]

    def test_bounded(self) -> None:
        stops = label_stops(f"viewer{i}" for i in range(100))
        assert len(stops) == 2 * MAX_LABEL_STOPS


def test_examples_are_turns_that_never_name_the_persona_or_label_a_line() -> None:
    for persona in DEFAULT_PERSONAS:
        messages = example_messages(persona)
        assert [m["role"] for m in messages] == ["user", "assistant"] * len(persona.examples)
        for reply in messages[1::2]:
            assert persona.speaker.lower() not in reply["content"].lower()
            assert reply["content"].startswith("[")  # a tag: the emotion it teaches
