"""nodes.game.minecraft.checks: an ask's check against the sidecar's state of one bot,
passed or failed with the reason in words; a malformed state fails the check, never raises."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.game.minecraft.checks import Check, verify, with_baseline


def state(**fields: Any) -> dict[str, Any]:
    """A state as the sidecar sends it (MC17.md "State"), with ``fields`` replaced."""
    base: dict[str, Any] = {
        "username": "Mika", "online": True, "position": [0.5, 4.0, 0.5], "health": 20,
        "food": 20, "inventory": {"dirt": 2}, "held": "dirt",
        "nearby_blocks": {"grass_block": 120, "dirt": 40},
        "nearby_players": [{"name": "Alice", "position": [7.9, 4.0, 0.5], "distance": 7.4},
                           {"name": "Rook", "position": [2.5, 4.0, 0.5], "distance": 2.0}],
        "task": ""}
    return base | fields


class TestNear:
    # check -> passed, reason
    @pytest.mark.parametrize(("check", "passed", "reason"), [
        # a player too far, then near enough (names compared regardless of case, as Minecraft does)
        (Check(kind="near", player="Alice", distance=3), False,
         "Mika is 7.4 blocks from Alice (within 3 needed)"),
        (Check(kind="near", player="rook", distance=3), True,
         "Mika is 2.0 blocks from Rook (within 3 needed)"),
        # a player the bot does not see at all
        (Check(kind="near", player="Bob", distance=3), False,
         "Bob is not within 16 blocks of Mika"),
        # coordinates
        (Check(kind="near", position=(0.0, 4.0, 2.0), distance=2), True,
         "Mika is 1.6 blocks from (0, 4, 2) (within 2 needed)"),
        (Check(kind="near", position=(10.0, 4.0, -3.0), distance=2), False,
         "Mika is 10.1 blocks from (10, 4, -3) (within 2 needed)"),
        # a kind of block counted around the bot
        (Check(kind="near", block="dirt"), True, "Mika is next to 40 dirt"),
        (Check(kind="near", block="oak_log"), False, "Mika sees no oak_log within 4 blocks"),
        # nothing to be near
        (Check(kind="near"), False, "the check names no player, position or block to be near"),
    ])
    def test_reasons(self, check: Check, passed: bool, reason: str) -> None:
        assert verify(check, state()) == (passed, reason)

    def test_no_position(self) -> None:
        check = Check(kind="near", position=(0.0, 0.0, 0.0), distance=2)
        assert verify(check, state(position=None)) == (False, "Mika has no position")


class TestInventory:
    def test_short_then_enough(self) -> None:
        check = Check(kind="inventory", item="dirt", count=3)
        assert verify(check, state()) == (False, "Mika has 2 dirt, needs 3")
        assert verify(check, state(inventory={"dirt": 3})) == (True, "Mika has 3 dirt, needs 3")

    def test_item_missing(self) -> None:
        check = Check(kind="inventory", item="oak_log", count=1)
        assert verify(check, state()) == (False, "Mika has 0 oak_log, needs 1")

    def test_baseline_counts_what_was_held(self) -> None:
        # collecting 3 dirt with 2 already held means holding 5 afterwards
        check = with_baseline(Check(kind="inventory", item="dirt", count=3), state())
        assert check.at_least == 5
        assert verify(check, state(inventory={"dirt": 4})) == (False, "Mika has 4 dirt, needs 5")
        assert verify(check, state(inventory={"dirt": 5}))[0]

    def test_baseline_of_a_malformed_state_is_the_count(self) -> None:
        check = with_baseline(Check(kind="inventory", item="dirt", count=3), {"inventory": 7})
        assert check.at_least == 3

    def test_baseline_leaves_other_checks(self) -> None:
        check = Check(kind="near", player="Alice", distance=3)
        assert with_baseline(check, state()) is check


class TestBlock:
    def test_block_the_game_looked_up(self) -> None:
        check = Check(kind="block", position=(3.0, 4.0, 0.0), name="dirt")
        placed = state(blocks=[{"position": [3, 4, 0], "name": "dirt"}])
        assert verify(check, placed) == (True, "the block at (3, 4, 0) is dirt, wanted dirt")
        wrong = state(blocks=[{"position": [3, 4, 0], "name": "air"}])
        assert verify(check, wrong) == (False, "the block at (3, 4, 0) is air, wanted dirt")

    def test_block_not_in_the_state(self) -> None:
        check = Check(kind="block", position=(3.0, 4.0, 0.0), name="dirt")
        assert verify(check, state()) == (False, "the state does not say what is at (3, 4, 0)")


class TestStates:
    def test_none_always_passes(self) -> None:
        assert verify(Check(), {}) == (True, "nothing to check")

    def test_offline_bot_fails(self) -> None:
        check = Check(kind="inventory", item="dirt", count=1)
        assert verify(check, state(online=False)) == (False, "Mika is offline")

    def test_malformed_state_names_the_field(self) -> None:
        passed, reason = verify(Check(kind="inventory", item="dirt", count=1),
                                state(inventory=["dirt"]))
        assert not passed
        assert reason.startswith("the bot's state is malformed")
        assert "$.inventory" in reason

    @settings(max_examples=300, derandomize=True, print_blob=True, deadline=None)
    @given(st.dictionaries(
        st.sampled_from(["username", "online", "position", "inventory", "nearby_blocks",
                         "nearby_players", "blocks", "other"]),
        st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12),
        max_size=8),
        st.sampled_from([Check(kind="near", player="Alice", distance=3),
                         Check(kind="near", position=(1.0, 2.0, 3.0), distance=2),
                         Check(kind="near", block="dirt"),
                         Check(kind="inventory", item="dirt", count=3),
                         Check(kind="block", position=(1.0, 2.0, 3.0), name="dirt")]))
    def test_any_state_gives_a_verdict(self, junk: dict[str, Any], check: Check) -> None:
        passed, reason = verify(check, junk)
        assert isinstance(passed, bool)
        assert reason
