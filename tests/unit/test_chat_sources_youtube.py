"""Mapping documented liveChatMessage resources and error bodies (no HTTP here)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fakes.youtube import CHAT_ID, error_body, item, page

from messages.chat import ChatMessage
from nodes.chat.removal import Removal
from nodes.chat.sources.youtube import (
    BadItem,
    ChatEnded,
    OwnMessages,
    PageError,
    api_error_reason,
    parse_page,
    to_event,
)


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


def said(msg_id: str, words: str, channel_id: str = "UCviewer") -> ChatMessage:
    return message(item("textMessageEvent", msg_id, channel_id=channel_id,
                        textMessageDetails={"messageText": words}))


class TestOwnMessages:
    INSERTED = {"kind": "youtube#liveChatMessage", "id": "LCC.mine1",
                "snippet": {"type": "textMessageEvent", "authorChannelId": "UCbot",
                            "textMessageDetails": {"messageText": "hello"}}}

    def test_by_the_id_insert_returned(self) -> None:
        own = OwnMessages()
        own.posting("hello")
        own.posted(self.INSERTED)
        assert own.channel_id == "UCbot"
        assert own.is_own(said("LCC.mine1", "hello", "UCbot"))

    def test_an_echo_that_outruns_the_insert_answer(self) -> None:
        own = OwnMessages()
        own.posting("hello")
        assert own.is_own(said("LCC.unknown", "hello", "UCbot"))
        assert not own.is_own(said("LCC.again", "hello", "UCbot"))  # each text once

    def test_the_same_words_from_a_viewer_are_kept(self) -> None:
        own = OwnMessages()
        own.posted(self.INSERTED)
        own.posting("hello")
        assert not own.is_own(said("v1", "hello", "UCviewer"))

    def test_a_refused_post_is_not_expected_back(self) -> None:
        own = OwnMessages()
        own.posting("hello")
        own.failed("hello")
        assert not own.is_own(said("v1", "hello"))

    def test_memory_is_bounded(self) -> None:
        own = OwnMessages(memory=2)
        for i in range(3):
            own.posting(f"t{i}")
            own.posted({"id": f"id{i}"})
        assert not own.is_own(said("id0", "x"))
        assert own.is_own(said("id2", "x"))


class TestParsePage:
    def test_documented_page(self) -> None:
        parsed = parse_page(page([item("textMessageEvent", "m1",
                                       textMessageDetails={"messageText": "hi"})],
                                 "tok-9", polling_ms=2500))
        assert (parsed.next_page_token, parsed.polling_s, parsed.offline) == ("tok-9", 2.5, False)
        assert [e.text for e in parsed.events if isinstance(e, ChatMessage)] == ["hi"]

    # (body, the error's text)
    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ([], "expected a JSON object, got list"),
            ({"items": {"a": 1}}, "items: expected an array, got dict"),
            ({"nextPageToken": 5}, "nextPageToken: expected a string, got int"),
            ({"pollingIntervalMillis": "soon"}, "pollingIntervalMillis: expected a number"),
            ({"pollingIntervalMillis": -1}, "pollingIntervalMillis: expected a number"),
        ],
    )
    def test_pages_that_are_not_list_responses(self, body: object, error: str) -> None:
        with pytest.raises(PageError, match=error):
            parse_page(body)

    def test_a_bad_item_is_listed_and_the_rest_kept(self) -> None:
        parsed = parse_page(page([{"snippet": {"type": 7}},
                                  item("textMessageEvent", "m1",
                                       textMessageDetails={"messageText": "ok"})], "t"))
        assert len(parsed.events) == 1
        assert parsed.bad_items == [
            "not a liveChatMessage: Expected `str`, got `int` - at `$.snippet.type`"]

    # values of the right type but out of any real range never reach a message
    def test_out_of_range_numbers_become_zero(self) -> None:
        msg = message(item("memberMilestoneChatEvent", "m1", published="99999-01-01",
                           memberMilestoneChatDetails={"memberMonth": 2**70}))
        assert (msg.months, msg.sent_ns) == (0, 0)

    def test_wrong_types_are_a_bad_item(self) -> None:
        with pytest.raises(BadItem, match=r"at `\$.authorDetails`"):
            to_event({"snippet": {"type": "textMessageEvent"}, "authorDetails": []})
