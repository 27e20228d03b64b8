"""nodes.game.minecraft.asks: chat lines addressed to a persona become asks with pinned
arguments and a check; chat that asks nothing stays chat; viewers' text never breaks the parser."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.game.minecraft.asks import INTENTS, MAX_COUNT, MAX_TEXT, Ask, parse_ask
from nodes.game.minecraft.checks import Check

KNOWN = ["dirt", "grass_block", "oak_log", "oak_planks", "oak_leaves", "stone", "cobblestone",
         "diamond_ore", "torch", "iron_block", "stone_bricks", "sand"]
"""A few minecraft-data block names, as the game passes them."""
CAST = {"mika": "Mika", "rook": "Rook"}


def ask(text: str, *, me: str = "Alice", known: list[str] | None = None,
        cast: Any = None) -> Ask | None:
    return parse_ask(text, user="alice", platform="twitch", cast=CAST if cast is None else cast,
                     me=me, known_blocks=KNOWN if known is None else known, chat_id="m1")


def shape(text: str, **options: Any) -> tuple[str, str, dict[str, Any], str] | None:
    """(persona, intent, arguments, problem) of ``text``, or None."""
    found = ask(text, **options)
    return None if found is None else (found.persona, found.intent, found.arguments,
                                       found.problem)


class TestAddressing:
    # how viewers address a persona: all the same ask
    @pytest.mark.parametrize("text", [
        "Mika, come to me", "@mika come to me", "mika: come to me", "hey mika come to me",
        "MIKA come to me!", "hi, Mika. Come to me", "  mika -- come to me",
        # the bot's in-game name addresses it too
        "Mika come to me please",
    ])
    def test_forms(self, text: str) -> None:
        assert shape(text) == ("mika", "come", {"player": "Alice"}, "")

    # lines that do not start with a persona's name
    @pytest.mark.parametrize("text", [
        "come to me mika", "mikasa come here", "Mika's house is nice", "hey", "", "mika",
        "@bob get some dirt", "I think rook should get dirt",
    ])
    def test_not_addressed(self, text: str) -> None:
        assert ask(text) is None

    def test_bot_name_differs_from_persona(self) -> None:
        found = ask("MikaBot, follow Rook", cast={"mika": "MikaBot", "rook": "RookBot"})
        assert found is not None
        assert (found.persona, found.arguments) == ("mika", {"player": "RookBot"})

    def test_cast_as_a_list(self) -> None:
        assert shape("rook stop", cast=["mika", "rook"]) == ("rook", "stop", {}, "")

    def test_carries_the_chat_message(self) -> None:
        found = ask("Rook, get some dirt please. Thanks!")
        assert found is not None
        assert (found.asker, found.platform, found.chat_id) == ("alice", "twitch", "m1")
        assert found.text == "get some dirt please. Thanks!"


class TestChat:
    # addressed to a persona, but asking nothing the bots can do: the director answers as chat
    @pytest.mark.parametrize("text", [
        "mika you're cute", "Mika, how are you?", "rook what's your favourite block?",
        "rook get lost", "mika, do you like creepers?", "rook lol", "mika tell me a joke",
    ])
    def test_chat_is_not_an_ask(self, text: str) -> None:
        assert ask(text) is None


class TestIntents:
    # line -> (persona, intent, arguments, problem)
    @pytest.mark.parametrize(("text", "expected"), [
        # come: to the asker's player
        ("Mika, can you please come here? I'm lost", ("mika", "come", {"player": "Alice"}, "")),
        ("rook, go to me", ("rook", "come", {"player": "Alice"}, "")),
        ("mika get over here", ("mika", "come", {"player": "Alice"}, "")),
        # goto_player: a persona means its bot, anyone else is taken as written
        ("mika go to Rook", ("mika", "goto_player", {"player": "Rook"}, "")),
        ("mika walk to alice_99", ("mika", "goto_player", {"player": "alice_99"}, "")),
        # follow
        ("hey rook, follow me please", ("rook", "follow", {"player": "Alice"}, "")),
        ("Rook, follow @mika", ("rook", "follow", {"player": "Mika"}, "")),
        # collect: counts in digits or words, default 3, capped at 64; names normalised
        ("@rook get some dirt", ("rook", "collect", {"block": "dirt", "count": 3}, "")),
        ("rook: dig 3 dirt", ("rook", "collect", {"block": "dirt", "count": 3}, "")),
        ("rook get dirt", ("rook", "collect", {"block": "dirt", "count": 3}, "")),
        ("rook mine five dirt blocks", ("rook", "collect", {"block": "dirt", "count": 5}, "")),
        ("rook mine 4 blocks of sand", ("rook", "collect", {"block": "sand", "count": 4}, "")),
        ("rook get a couple of oak logs", ("rook", "collect", {"block": "oak_log", "count": 2}, "")),
        ("rook get 100 oak logs", ("rook", "collect", {"block": "oak_log", "count": 64}, "")),
        ("rook get 0 sand", ("rook", "collect", {"block": "sand", "count": 1}, "")),
        ("rook chop some wood", ("rook", "collect", {"block": "oak_log", "count": 3}, "")),
        ("rook chop a tree", ("rook", "collect", {"block": "oak_log", "count": 1}, "")),
        ("rook get me 2 stone bricks", ("rook", "collect", {"block": "stone_bricks", "count": 2}, "")),
        ("rook collect a few grass blocks",
         ("rook", "collect", {"block": "grass_block", "count": 3}, "")),
        ("rook: bring three more dirt to me", ("rook", "collect", {"block": "dirt", "count": 3}, "")),
        # an item that is no block in a fresh world is mined from its source
        ("rook get 5 cobblestone", ("rook", "collect", {"block": "stone", "count": 5}, "")),
        # an unknown block with a count is still an ask, refused by the game with the reason
        ("rook mine 5 blurbs", ("rook", "collect", {"block": "blurb", "count": 5},
                                "no block called blurb")),
        # goto: coordinates in the usual spellings
        ("Mika, go to 10 64 -3", ("mika", "goto", {"x": 10.0, "y": 64.0, "z": -3.0}, "")),
        ("mika go to (10, 64.5, -3)", ("mika", "goto", {"x": 10.0, "y": 64.5, "z": -3.0}, "")),
        ("mika goto x=1 y=2 z=3", ("mika", "goto", {"x": 1.0, "y": 2.0, "z": 3.0}, "")),
        ("mika go to 99999999 1 1", ("mika", "goto", {"x": 99999999.0, "y": 1.0, "z": 1.0},
                                     "(99999999, 1, 1) is outside the world")),
        # goto_block
        ("Rook, go to the nearest oak_log", ("rook", "goto_block", {"block": "oak_log"}, "")),
        ("rook find a tree", ("rook", "goto_block", {"block": "oak_log"}, "")),
        ("rook go to the closest blurb", ("rook", "goto_block", {"block": "blurb"},
                                          "no block called blurb")),
        # place: the game picks the position
        ("mika place a dirt block", ("mika", "place", {"item": "dirt"}, "")),
        ("mika put down some cobblestone", ("mika", "place", {"item": "cobblestone"}, "")),
        ("Rook, place a blurb", ("rook", "place", {"item": "blurb"}, "no block called blurb")),
        # stop
        ("rook stop!", ("rook", "stop", {}, "")),
        ("mika, stop following me", ("mika", "stop", {}, "")),
        # anything else the bots could do: a task in free text, for a skill
        ("rook, build a small house", ("rook", "task", {"task": "build a small house"}, "")),
        ("rook dig a hole", ("rook", "task", {"task": "dig a hole"}, "")),
        ("rook bring me a diamond sword", ("rook", "task", {"task": "bring me a diamond sword"}, "")),
        ("mika put a torch on the wall", ("mika", "task", {"task": "put a torch on the wall"}, "")),
        ("rook go to the village", ("rook", "task", {"task": "go to the village"}, "")),
        ("rook dig 10 64 3", ("rook", "task", {"task": "dig 10 64 3"}, "")),
    ])
    def test_intent(self, text: str, expected: tuple[str, str, dict[str, Any], str]) -> None:
        assert shape(text) == expected

    # intent -> the check the game verifies afterwards
    @pytest.mark.parametrize(("text", "check"), [
        ("mika come here", Check(kind="near", player="Alice", distance=3)),
        ("mika follow rook", Check(kind="near", player="Rook", distance=3)),
        ("mika go to 1 2 3", Check(kind="near", position=(1.0, 2.0, 3.0), distance=2)),
        ("mika go to the nearest dirt", Check(kind="near", block="dirt")),
        ("rook get 4 dirt", Check(kind="inventory", item="dirt", count=4)),
        # what mining puts in the inventory: grass_block drops dirt, stone drops cobblestone
        ("rook get 2 grass blocks", Check(kind="inventory", item="dirt", count=2)),
        ("rook mine some stone", Check(kind="inventory", item="cobblestone", count=3)),
        ("mika place a dirt block", Check()),
        ("rook stop", Check()),
        ("rook build a house", Check()),
    ])
    def test_check(self, text: str, check: Check) -> None:
        found = ask(text)
        assert found is not None
        assert found.check == check


class TestAskerNotInTheWorld:
    def test_come_parses_and_says_why_it_cannot(self) -> None:
        assert shape("Mika, come to me", me="") == (
            "mika", "come", {"player": ""}, "the asker has no player in this world to come to")

    def test_follow_me(self) -> None:
        assert shape("rook follow me", me="") == (
            "rook", "follow", {"player": ""}, "the asker has no player in this world")

    def test_other_asks_do_not_need_the_asker(self) -> None:
        assert shape("rook get 3 dirt", me="") == (
            "rook", "collect", {"block": "dirt", "count": 3}, "")


class TestWithoutBlockList:
    """An empty list leaves names unchecked: the everyday words and plurals still map."""

    @pytest.mark.parametrize(("text", "expected"), [
        ("rook get some wood", ("rook", "collect", {"block": "oak_log", "count": 3}, "")),
        ("rook get 2 dirt blocks", ("rook", "collect", {"block": "dirt", "count": 2}, "")),
        ("rook get 2 oak planks", ("rook", "collect", {"block": "oak_planks", "count": 2}, "")),
        ("rook get some grass", ("rook", "collect", {"block": "grass_block", "count": 3}, "")),
        ("mika go to Alice", ("mika", "goto_player", {"player": "Alice"}, "")),
        ("mika find some wood", ("mika", "goto_block", {"block": "oak_log"}, "")),
    ])
    def test_normalised(self, text: str, expected: tuple[str, str, dict[str, Any], str]) -> None:
        assert shape(text, known=[]) == expected


class TestBounds:
    def test_text_past_the_limit_is_ignored(self) -> None:
        assert ask("mika" + " " * MAX_TEXT + "come here") is None
        found = ask("rook build a house " + "and a tower " * 100)
        assert found is not None
        assert len(found.text) <= MAX_TEXT

    def test_huge_numbers_are_bounded(self) -> None:
        assert shape("rook get 999999999 dirt") == (
            "rook", "collect", {"block": "dirt", "count": MAX_COUNT}, "")
        assert ask("rook get 99999999999999999999 dirt") is not None


ADDRESSES = ["mika,", "@Rook", "hey rook", "MIKA:", "rook"]
PIECES = ["mika", "Rook", "@mika", ",", ":", " ", "come", "here", "to me", "follow", "me", "get",
          "mine", "dig", "collect", "3", "-5", "64", "999999999999", "some", "a few", "dirt",
          "oak logs", "blocks", "go to", "the nearest", "place", "a", "stop", "please", "build",
          "(", ")", "x=", ".", "?", "!", "\n", "é", "🙂", "\x00", "'", "-", "_", "Alice"]


class TestFuzz:
    @settings(max_examples=400, derandomize=True, print_blob=True, deadline=None)
    @given(st.one_of(
        st.text(max_size=400),
        # addressed lines of request-like words, so that most examples reach the intents
        st.tuples(st.sampled_from(ADDRESSES), st.lists(st.sampled_from(PIECES), max_size=12))
        .map(lambda parts: " ".join([parts[0], *parts[1]])),
        # the shape of each intent with odd numbers and names in it
        st.tuples(st.sampled_from(ADDRESSES),
                  st.sampled_from(["get", "mine", "go to", "go to the nearest", "place a",
                                   "follow", "come to", "goto", "bring me"]),
                  st.integers(-10**12, 10**12).map(str) | st.sampled_from(["", "a few", "1 2"]),
                  st.sampled_from(["dirt", "oak logs", "me", "Alice"]) | st.text(max_size=20))
        .map(" ".join),
        st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=10).map("".join)),
        st.sampled_from(["Alice", ""]), st.sampled_from([KNOWN, []]))
    def test_never_raises_and_stays_bounded(self, text: str, me: str, known: list[str]) -> None:
        found = ask(text, me=me, known=known)
        if found is None:
            return
        assert found.persona in CAST
        assert found.intent in INTENTS
        assert len(found.text) <= MAX_TEXT
        msgspec.json.encode(found)  # arguments are plain data the sidecar can take
        if found.intent == "collect":
            assert 1 <= found.arguments["count"] <= MAX_COUNT
