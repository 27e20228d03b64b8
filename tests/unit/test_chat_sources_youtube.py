"""Mapping documented liveChatMessage resources and error bodies (no HTTP here)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fakes.youtube import CHAT_ID, error_body, item

from messages.chat import ChatMessage
from nodes.chat.removal import Removal
from nodes.chat.sources.youtube import ChatEnded, api_error_reason, to_event


def message(resource: dict[str, Any]) -> ChatMessage:
    event = to_event(resource)
    assert isinstance(event, ChatMessage)
    return event


class TestMessages:
    def test_text(self) -> None:
        msg = message(item("textMessageEvent", "m1", author="Ann", moderator=True,
                           display="hi all", textMessageDetails={"messageText": "hi all"},
                           published="2024-05-01T18:30:00.000+00:00"))
        assert (msg.platform, msg.user, msg.text, msg.kind, msg.id) == (
            "youtube", "Ann", "hi all", "text", "m1")
        assert msg.channel == CHAT_ID
        assert msg.roles == ["moderator"]
        assert msg.sent_ns == 1714588200 * 10**9

    def test_super_chat(self) -> None:
        msg = message(item("superChatEvent", "m2", sponsor=True,
                           display="$5.00 from Ann: love it",
                           superChatDetails={"amountMicros": "5000000", "currency": "USD",
                                             "amountDisplayString": "$5.00",
                                             "userComment": "love it", "tier": 2}))
        assert (msg.kind, msg.amount, msg.currency, msg.text) == ("superchat", 5.0, "USD",
                                                                  "love it")
        assert msg.roles == ["member"]

    def test_super_sticker(self) -> None:
        msg = message(item("superStickerEvent", "m3", superStickerDetails={
            "superStickerMetadata": {"stickerId": "s1", "altText": "A dancing cat",
                                     "language": "en"},
            "amountMicros": "1990000", "currency": "EUR", "amountDisplayString": "€1.99",
            "tier": 1}))
        assert (msg.kind, msg.amount, msg.currency, msg.text) == ("sticker", 1.99, "EUR",
                                                                  "A dancing cat")

    def test_new_member(self) -> None:
        msg = message(item("newSponsorEvent", "m4", owner=False, display="Welcome to Fans!",
                           newSponsorDetails={"memberLevelName": "Fans", "isUpgrade": False}))
        assert (msg.kind, msg.text) == ("member", "Welcome to Fans!")

    def test_milestone(self) -> None:
        msg = message(item("memberMilestoneChatEvent", "m5", memberMilestoneChatDetails={
            "userComment": "a year already", "memberMonth": 12, "memberLevelName": "Fans"}))
        assert (msg.kind, msg.months, msg.text) == ("member", 12, "a year already")

    def test_gifting(self) -> None:
        msg = message(item("membershipGiftingEvent", "m6", display="gifted 5 memberships",
                           membershipGiftingDetails={"giftMembershipsCount": 5,
                                                     "giftMembershipsLevelName": "Fans"}))
        assert (msg.kind, msg.count) == ("gift", 5)

    def test_owner_is_broadcaster(self) -> None:
        msg = message(item("textMessageEvent", "m7", owner=True,
                           textMessageDetails={"messageText": "welcome"}))
        assert msg.roles == ["broadcaster"]

    def test_other_kinds_are_system(self) -> None:
        msg = message(item("sponsorOnlyModeStartedEvent", "m8", display="Members-only mode"))
        assert msg.kind == "system"


class TestModeration:
    def test_deleted(self) -> None:
        event = to_event(item("messageDeletedEvent", "d1",
                              messageDeletedDetails={"deletedMessageId": "m1"}))
        assert event == Removal("youtube", CHAT_ID, message_id="m1")

    def test_banned(self) -> None:
        event = to_event(item("userBannedEvent", "b1", userBannedDetails={
            "bannedUserDetails": {"channelId": "UCtroll", "channelUrl": "", "displayName": "Troll",
                                  "profileImageUrl": ""},
            "banType": "temporary", "banDurationSeconds": 300}))
        assert event == Removal("youtube", CHAT_ID, user="Troll", user_id="UCtroll",
                                duration_s=300.0)

    def test_chat_ended(self) -> None:
        assert isinstance(to_event(item("chatEndedEvent", "e1")), ChatEnded)

    def test_item_without_snippet(self) -> None:
        assert to_event({"id": "x"}) is None


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "reason"),
        [(403, "quotaExceeded"), (403, "rateLimitExceeded"), (403, "liveChatEnded"),
         (404, "liveChatNotFound"), (403, "liveChatDisabled")],
    )
    def test_documented_body(self, code: int, reason: str) -> None:
        assert api_error_reason(httpx.Response(code, json=error_body(code, reason))) == reason

    def test_body_that_is_not_json(self) -> None:
        assert api_error_reason(httpx.Response(502, text="<html>bad gateway</html>")) == "http_502"
