"""Bans remembered for their duration: later messages from a banned user are dropped."""

from __future__ import annotations

import pytest
from helpers.chat import chat_line

from messages.chat import ChatMessage, Platform
from nodes.chat.removal import Bans, Removal


def said(user: str, user_id: str = "", platform: Platform = "youtube") -> ChatMessage:
    return chat_line("hi", user=user, user_id=user_id, platform=platform)


class TestBans:
    def test_a_timeout_covers_later_messages_until_it_ends(self) -> None:
        bans = Bans()
        assert bans.add(Removal("youtube", user="Troll", user_id="UCtroll", duration_s=300), 0.0)
        assert bans.covers(said("Troll", "UCtroll"), 299.0)
        assert bans.covers(said("Renamed", "UCtroll"), 299.0)  # the id wins over the name
        assert not bans.covers(said("Troll", "UCtroll"), 300.5)
        assert len(bans) == 0  # forgotten once over

    def test_a_permanent_ban_never_ends(self) -> None:
        bans = Bans()
        bans.add(Removal("twitch", user="ronni", user_id="87654321"), 0.0)
        assert bans.covers(said("ronni", "87654321", "twitch"), 1e9)
        assert not bans.covers(said("ronni", "87654321", "youtube"), 1.0)  # another platform

    def test_by_name_when_there_is_no_id(self) -> None:
        bans = Bans()
        bans.add(Removal("twitch", user="Ronni"), 0.0)
        assert bans.covers(said("RONNI", platform="twitch"), 5.0)

    # a deletion or a clear of the whole chat bans nobody
    @pytest.mark.parametrize("removal", [Removal("twitch", message_id="abc"),
                                         Removal("twitch", channel="dallas")])
    def test_not_bans(self, removal: Removal) -> None:
        bans = Bans()
        assert not bans.add(removal, 0.0)
        assert len(bans) == 0

    def test_the_table_is_bounded_and_keeps_the_longest(self) -> None:
        bans = Bans(capacity=3)
        bans.add(Removal("youtube", user_id="UCforever"), 0.0)
        for i in range(5):
            bans.add(Removal("youtube", user_id=f"UC{i}", duration_s=100 + i), 0.0)
        assert len(bans) == 3
        assert bans.covers(said("x", "UCforever"), 50.0)
        assert bans.covers(said("x", "UC4"), 50.0)
        assert not bans.covers(said("x", "UC0"), 50.0)  # the first to end made room
