"""Whether an ask was carried out, read from the bot's state after it (Voyager's
self-verification): "is Mika within 3 blocks of Alice", "does Rook hold 3 more dirt".

Pure: `verify` reads the state dict the sidecar publishes (its ``state`` op and event) and
says why in words, so a failure can go back to the LLM as it is. A state that does not have
the shape the sidecar promises fails the check with the reason; it never raises.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import msgspec

__all__ = ["NEARBY_BLOCKS_REACH", "BotState", "Check", "PlacedBlock", "Player", "verify",
           "with_baseline"]

NEARBY_BLOCKS_REACH = 4
"""The sidecar counts ``nearby_blocks`` in a 9x5x9 box around the bot: a block it counts is
within 4 blocks sideways (2 up or down)."""

CheckKind = Literal["near", "inventory", "block", "none"]


class Check(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What must hold after an ask is done.

    Attributes
    ----------
    kind:
        ``near`` (the bot within ``distance`` blocks of ``player`` or ``position``, or next
        to a block called ``block``), ``inventory`` (at least ``at_least`` of ``item``, and
        never fewer than ``count``), ``block`` (the block at ``position`` is ``name``),
        ``none`` (nothing to check: the action's own result decides).
    player:
        A player's in-game name (``near``).
    position:
        World coordinates ``[x, y, z]`` (``near``, ``block``).
    block:
        A block name to stand next to (``near``: counted in ``nearby_blocks``).
    distance:
        Blocks (``near``).
    item, count, at_least:
        The item, how many the ask wants, and how many the inventory must hold: the count
        plus what it held before (`with_baseline`) (``inventory``).
    name:
        The block expected at ``position`` (``block``).
    """

    kind: CheckKind = "none"
    player: str = ""
    position: tuple[float, float, float] | None = None
    block: str = ""
    distance: float = 0.0
    item: str = ""
    count: int = 0
    at_least: int = 0
    name: str = ""


class Player(msgspec.Struct, kw_only=True):
    """A player the bot sees (``nearby_players``)."""

    name: str
    position: tuple[float, float, float] | None = None
    distance: float = math.inf


class PlacedBlock(msgspec.Struct, kw_only=True):
    """A block the game looked up (``blocks``: not in the sidecar's periodic state; the game
    adds the ``place``/``dig`` reply's block before it verifies a ``block`` check)."""

    position: tuple[float, float, float]
    name: str


class BotState(msgspec.Struct, kw_only=True):
    """The sidecar's state of one bot (MC17.md "State"); missing fields take these defaults."""

    username: str = "the bot"
    online: bool = True
    position: tuple[float, float, float] | None = None
    inventory: dict[str, int] = {}
    nearby_blocks: dict[str, int] = {}
    nearby_players: list[Player] = []
    blocks: list[PlacedBlock] = []


def with_baseline(check: Check, before: dict[str, Any]) -> Check:
    """An ``inventory`` check that asks for ``count`` more than the inventory held ``before``
    (collecting 3 dirt with 2 in the pocket means holding 5); other checks unchanged."""
    if check.kind != "inventory":
        return check
    held = _state(before)
    had = held.inventory.get(check.item, 0) if isinstance(held, BotState) else 0
    return msgspec.structs.replace(check, at_least=had + check.count)


def verify(check: Check, state: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``state`` (one bot's, after the ask) satisfies ``check``, and why in words."""
    if check.kind == "none":
        return True, "nothing to check"
    bot = _state(state)
    if isinstance(bot, str):
        return False, bot
    if not bot.online:
        return False, f"{bot.username} is offline"
    match check.kind:
        case "near":
            return _near(check, bot)
        case "inventory":
            return _inventory(check, bot)
        case "block":
            return _block(check, bot)


def _state(state: dict[str, Any]) -> BotState | str:
    """The state as a `BotState`, or the reason it is not one."""
    try:
        return msgspec.convert(state, BotState)
    except msgspec.ValidationError as error:
        return f"the bot's state is malformed ({error})"


def _near(check: Check, bot: BotState) -> tuple[bool, str]:
    within = f"(within {check.distance:g} needed)"
    if check.block:
        seen = bot.nearby_blocks.get(check.block, 0)
        if seen > 0:
            return True, f"{bot.username} is next to {seen} {check.block}"
        return False, f"{bot.username} sees no {check.block} within {NEARBY_BLOCKS_REACH} blocks"
    if check.player:
        wanted = check.player.casefold()  # Minecraft names are unique regardless of case
        player = next((p for p in bot.nearby_players if p.name.casefold() == wanted), None)
        if player is None:
            return False, f"{check.player} is not within 16 blocks of {bot.username}"
        ok = player.distance <= check.distance
        return ok, f"{bot.username} is {player.distance:.1f} blocks from {player.name} {within}"
    if check.position is not None:
        if bot.position is None:
            return False, f"{bot.username} has no position"
        gap = math.dist(bot.position, check.position)
        where = ", ".join(f"{c:g}" for c in check.position)
        return gap <= check.distance, f"{bot.username} is {gap:.1f} blocks from ({where}) {within}"
    return False, "the check names no player, position or block to be near"


def _inventory(check: Check, bot: BotState) -> tuple[bool, str]:
    needed = max(check.at_least, check.count)
    held = bot.inventory.get(check.item, 0)
    return held >= needed, f"{bot.username} has {held} {check.item}, needs {needed}"


def _block(check: Check, bot: BotState) -> tuple[bool, str]:
    if check.position is None:
        return False, "the check names no position"
    where = ", ".join(f"{c:g}" for c in check.position)
    found = next((b for b in bot.blocks if math.dist(b.position, check.position) < 0.5), None)
    if found is None:
        return False, f"the state does not say what is at ({where})"
    return found.name == check.name, f"the block at ({where}) is {found.name}, wanted {check.name}"
