"""Episodic summaries: central turns picked from embeddings, conversations never mixing viewers."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.memory.records import MemoryRecord
from nodes.memory.summarise import Conversations, central_indices, summary_of


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def turn(i: int, viewer: str = "twitch:1", stream: str = "s1", persona: str = "nova",
         ) -> MemoryRecord:
    return MemoryRecord(id=f"t{i}", text=f"line {i}", kind="turn", viewer=viewer,
                        stream=stream, persona=persona, stamp_ns=i)


class TestCentralIndices:
    def test_picks_the_central_ones_in_order(self) -> None:
        # four turns on one topic, each a little different, and one off-topic line (row 2)
        rows = np.stack([unit(1, 0.3, 0, 0), unit(1, -0.3, 0, 0), unit(0, 0, 0, 1),
                         unit(1, 0, 0.3, 0), unit(1, 0, -0.3, 0)])
        for count in (1, 2, 3):
            picked = central_indices(rows, count)
            assert picked == sorted(picked) and len(picked) == count
            assert 2 not in picked

    def test_redundancy_penalty_avoids_duplicates(self) -> None:
        same = unit(1, 0.1, 0)
        rows = np.stack([same, same, same, unit(0.6, 0.8, 0)])
        assert central_indices(rows, 2) in ([0, 3], [1, 3], [2, 3])

    def test_fewer_rows_than_asked(self) -> None:
        assert central_indices(np.stack([unit(1, 0), unit(0, 1)]), 5) == [0, 1]


class TestSummaryOf:
    def test_tags_and_text(self) -> None:
        records = [turn(i) for i in range(4)]
        summary = summary_of(records, np.stack([unit(1, i) for i in range(4)]), sentences=2)
        assert summary.kind == "summary"
        assert summary.viewer == "twitch:1" and summary.stream == "s1"
        assert summary.persona == "nova"
        assert summary.source_turn == "t0" and summary.stamp_ns == 3
        assert summary.id == "summary:s1:twitch:1:t0"
        assert summary.text.startswith("Conversation with twitch:1 (4 turns): ")
        assert summary.text.count(" / ") == 1

    def test_mixed_personas_become_shared(self) -> None:
        records = [turn(0, persona="nova"), turn(1, persona="echo")]
        summary = summary_of(records, np.stack([unit(1, 0), unit(0, 1)]))
        assert summary.persona == ""

    def test_long_quotes_are_shortened(self) -> None:
        record = MemoryRecord(id="x", text="word " * 200, kind="turn")
        assert len(summary_of([record], np.stack([unit(1, 0)])).text) < 250


class TestConversations:
    def test_summary_every_n_turns(self) -> None:
        conversations = Conversations(every=3)
        out = [conversations.add(turn(i), unit(1, i), now=float(i)) for i in range(6)]
        assert [len(o) for o in out] == [0, 0, 1, 0, 0, 1]
        assert out[2][0].source_turn == "t0" and out[5][0].source_turn == "t3"

    def test_viewers_never_mixed(self) -> None:
        conversations = Conversations(every=2)
        assert conversations.add(turn(0, "twitch:1"), unit(1, 0), 0.0) == []
        assert conversations.add(turn(1, "twitch:2"), unit(1, 0), 0.0) == []
        [summary] = conversations.add(turn(2, "twitch:1"), unit(1, 0), 0.0)
        assert summary.viewer == "twitch:1" and "line 1" not in summary.text

    # (turns in the quiet conversation, summaries expected)
    @pytest.mark.parametrize(("turns", "expected"), [(4, 1), (3, 0)])
    def test_idle_conversation(self, turns: int, expected: int) -> None:
        conversations = Conversations(every=100, idle_s=60.0, min_turns=4)
        for i in range(turns):
            conversations.add(turn(i), unit(1, i), now=0.0)
        assert conversations.due(now=59.0) == []
        assert len(conversations.due(now=60.0)) == expected
        assert conversations.due(now=1000.0) == []  # closed either way

    def test_forget_drops_open_conversation(self) -> None:
        conversations = Conversations(every=2)
        conversations.add(turn(0, "twitch:1"), unit(1, 0), 0.0)
        conversations.forget("twitch:1")
        assert conversations.add(turn(1, "twitch:1"), unit(1, 0), 0.0) == []
