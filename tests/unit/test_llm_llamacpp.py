"""The embedded backend's pure parts: which KV-cache slot a persona uses."""

from __future__ import annotations

import pytest

from nodes.llm.backends.llamacpp import PersonaSlots


class TestPersonaSlots:
    @pytest.mark.parametrize(
        ("slots", "personas", "expected"),
        [
            # enough slots: each persona keeps its own
            (2, "ababab", [0, 1, 0, 1, 0, 1]),
            # a third persona takes the least recently used slot (b's), then b takes a's
            (2, "abacb", [0, 1, 0, 1, 0]),
            # one slot: everyone shares it
            (1, "abc", [0, 0, 0]),
        ],
    )
    def test_assignment(self, slots: int, personas: str, expected: list[int]) -> None:
        table = PersonaSlots(slots)
        assert [table.slot_for(p) for p in personas] == expected
