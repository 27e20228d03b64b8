"""The wire framing and the message catalogue."""

from __future__ import annotations

import msgspec
import pytest

from bus.errors import WireError
from bus.wire import decode_payload, pack, unpack
from messages.base import Header, Message
from messages.catalog import SERVICES, TOPICS, json_schema, message_types, type_for_tag
from messages.chat import ChatMessage


def header(tag: str = "chat.ChatMessage") -> Header:
    return Header("n", 3, 10, tag, "trace", 5)


class TestFraming:
    def test_round_trip(self) -> None:
        frames = pack("chat/message", header(), b"payload")
        assert unpack(frames) == ("chat/message", header(), b"payload")

    @pytest.mark.parametrize(
        ("frames", "message"),
        [
            ([b"one"], "expected 3 frames"),
            ([b"a", b"b", b"c", b"d"], "expected 3 frames"),
            ([b"\xff\xfe", msgspec.msgpack.encode(header()), b""], "not UTF-8"),
            ([b"t", b"not msgpack", b""], "header does not decode"),
            ([b"t", msgspec.msgpack.encode([1, 2]), b""], "header does not decode"),
        ],
    )
    def test_foreign_frames_are_refused(self, frames: list[bytes], message: str) -> None:
        with pytest.raises(WireError, match=message):
            unpack(frames)

    def test_unknown_type_decodes_as_plain_msgpack(self) -> None:
        payload = msgspec.msgpack.encode({"type": "future.Thing", "x": 1})
        assert decode_payload(header("future.Thing"), payload) == {"type": "future.Thing", "x": 1}

    def test_known_type_decodes_typed(self) -> None:
        msg = ChatMessage(platform="console", user="a", text="hi")
        assert decode_payload(header(), msgspec.msgpack.encode(msg)) == msg


class TestCatalogue:
    def test_every_topic_type_is_tagged_and_has_a_schema(self) -> None:
        for topic in TOPICS.values():
            tag = topic.type.__struct_config__.tag
            assert isinstance(tag, str) and type_for_tag(tag) is topic.type
            assert json_schema(topic.type)["$ref"].endswith(topic.type.__name__)

    def test_tags_are_unique(self) -> None:
        types = message_types()
        assert len(types) == len(set(types.values()))

    def test_services_have_request_and_response(self) -> None:
        for srv in SERVICES.values():
            assert issubclass(srv.request, Message) and issubclass(srv.response, Message)

    def test_chat_message_needs_only_platform_user_text(self) -> None:
        msg = msgspec.convert({"platform": "twitch", "user": "u", "text": "t"}, ChatMessage)
        assert msg.kind == "text" and msg.roles == []

    def test_old_payload_without_new_fields_still_decodes(self) -> None:
        # schema evolution: fields added later have defaults
        old = msgspec.msgpack.encode({"type": "chat.ChatMessage", "platform": "twitch",
                                      "user": "u", "text": "t"})
        assert msgspec.msgpack.decode(old, type=ChatMessage).amount == 0.0

    def test_unknown_fields_from_a_newer_build_are_ignored(self) -> None:
        newer = msgspec.msgpack.encode({"type": "chat.ChatMessage", "platform": "twitch",
                                        "user": "u", "text": "t", "mood": "happy"})
        assert msgspec.msgpack.decode(newer, type=ChatMessage).text == "t"
