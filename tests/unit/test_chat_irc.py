"""The Twitch IRC parser and the mapping of documented lines to ChatMessage / Removal."""

from __future__ import annotations

import msgspec
import pytest
from fakes.twitch import (
    DOC_CLEARCHAT_ALL,
    DOC_CLEARCHAT_BAN,
    DOC_CLEARCHAT_TIMEOUT,
    DOC_CLEARMSG,
    DOC_PRIVMSG,
    DOC_PRIVMSG_BITS,
    DOC_USERNOTICE_RAID,
    DOC_USERNOTICE_RESUB,
    DOC_USERNOTICE_SUBGIFT,
    privmsg,
)

from nodes.chat.twitch.irc import (
    IrcParseError,
    escape_tag_value,
    format_line,
    parse_line,
    to_chat_message,
    to_removal,
    unescape_tag_value,
)


class TestParseLine:
    def test_documented_privmsg(self) -> None:
        line = parse_line(DOC_PRIVMSG + "\r\n")
        assert line.command == "PRIVMSG"
        assert line.nick == "abc"
        assert line.channel == "xyz"
        assert line.trailing == "HeyGuys"
        assert line.tags["display-name"] == "abc"
        assert line.tags["user-type"] == ""
        assert line.tags["flags"] == "0-6:S.7"

    @pytest.mark.parametrize(
        ("raw", "command", "params"),
        [
            ("PING :tmi.twitch.tv", "PING", ["tmi.twitch.tv"]),  # trailing only
            (":tmi.twitch.tv RECONNECT", "RECONNECT", []),  # prefix, no params
            (":tmi.twitch.tv 001 bot :Welcome, GLHF!", "001", ["bot", "Welcome, GLHF!"]),
            ("privmsg #c :a :b", "PRIVMSG", ["#c", "a :b"]),  # only the first " :" splits
            (":x JOIN #c", "JOIN", ["#c"]),
        ],
    )
    def test_shapes(self, raw: str, command: str, params: list[str]) -> None:
        line = parse_line(raw)
        assert (line.command, line.params) == (command, params)

    @pytest.mark.parametrize("raw", ["", "   ", "@a=b", "@a=b :prefix"])
    def test_no_command_is_an_error(self, raw: str) -> None:
        with pytest.raises(IrcParseError, match="no IRC command"):
            parse_line(raw)

    @pytest.mark.parametrize(
        ("escaped", "plain"),
        [
            ("a\\sb", "a b"),
            ("semi\\:colon", "semi;colon"),
            ("back\\\\slash", "back\\slash"),
            ("line\\nbreak\\r", "line\nbreak\r"),
            ("unknown\\x", "unknownx"),  # IRCv3: an unknown escape drops the backslash
            ("trailing\\", "trailing"),
        ],
    )
    def test_tag_escapes(self, escaped: str, plain: str) -> None:
        assert unescape_tag_value(escaped) == plain

    def test_escape_round_trip(self) -> None:
        value = "a b;c\\d\r\n"
        assert unescape_tag_value(escape_tag_value(value)) == value
        line = parse_line(format_line("PRIVMSG", "#c", "hi there", tags={"k": value}))
        assert line.tags["k"] == value
        assert line.trailing == "hi there"


class TestChatMessages:
    def test_privmsg(self) -> None:
        msg = to_chat_message(parse_line(DOC_PRIVMSG))
        assert msg is not None
        assert (msg.platform, msg.user, msg.text, msg.channel) == (
            "twitch", "abc", "HeyGuys", "xyz")
        assert msg.roles == ["broadcaster"]
        assert msg.id == "eb24e920-8065-492a-8aea-266a00fc5126"
        assert msg.user_id == "713936733"
        assert msg.sent_ns == 1642786203573 * 1_000_000
        assert msg.kind == "text"

    def test_bits(self) -> None:
        msg = to_chat_message(parse_line(DOC_PRIVMSG_BITS))
        assert msg is not None
        assert (msg.kind, msg.amount, msg.currency, msg.text) == ("bits", 100.0, "BITS", "cheer100")

    def test_resub(self) -> None:
        msg = to_chat_message(parse_line(DOC_USERNOTICE_RESUB))
        assert msg is not None
        assert (msg.kind, msg.months, msg.user) == ("sub", 6, "ronni")
        assert msg.text == "Great stream -- keep it up!"
        assert set(msg.roles) == {"broadcaster", "subscriber"}

    def test_subgift_without_text_uses_system_msg(self) -> None:
        msg = to_chat_message(parse_line(DOC_USERNOTICE_SUBGIFT))
        assert msg is not None
        assert (msg.kind, msg.count) == ("gift", 1)
        assert msg.text == "TWW2 gifted a Tier 1 sub to Mr_Woodchuck!"

    def test_raid(self) -> None:
        msg = to_chat_message(parse_line(DOC_USERNOTICE_RAID))
        assert msg is not None
        assert (msg.kind, msg.amount, msg.currency) == ("raid", 15.0, "VIEWERS")
        assert msg.text == "15 raiders from TestChannel have joined\n!"

    def test_roles_and_emotes(self) -> None:
        line = privmsg("c", "viewer", "Kappa Keepo Kappa", first=True, returning=True, mod=True,
                       badges="vip/1,subscriber/12", emotes="25:0-4,12-16/1902:6-10")
        msg = to_chat_message(parse_line(line))
        assert msg is not None
        assert msg.roles == ["moderator", "vip", "subscriber", "first_time", "returning"]
        assert [(e.id, e.name, e.start, e.end) for e in msg.emotes] == [
            ("25", "Kappa", 0, 4), ("1902", "Keepo", 6, 10), ("25", "Kappa", 12, 16)]

    def test_action(self) -> None:
        msg = to_chat_message(parse_line(privmsg("c", "u", "\x01ACTION waves\x01")))
        assert msg is not None and msg.text == "waves"

    @pytest.mark.parametrize("raw", [DOC_CLEARMSG, "PING :tmi.twitch.tv", DOC_CLEARCHAT_ALL])
    def test_other_commands_are_not_messages(self, raw: str) -> None:
        assert to_chat_message(parse_line(raw)) is None


class TestRemovals:
    def test_clearmsg(self) -> None:
        removal = to_removal(parse_line(DOC_CLEARMSG))
        assert removal is not None
        assert (removal.message_id, removal.user, removal.channel) == ("abc-123-def", "ronni",
                                                                       "dallas")

    def test_timeout(self) -> None:
        removal = to_removal(parse_line(DOC_CLEARCHAT_TIMEOUT))
        assert removal is not None
        assert (removal.user, removal.user_id, removal.duration_s) == ("ronni", "87654321", 350.0)
        assert not removal.everything

    def test_ban(self) -> None:
        removal = to_removal(parse_line(DOC_CLEARCHAT_BAN))
        assert removal is not None and removal.duration_s == 0.0 and removal.user == "ronni"

    def test_clear_all(self) -> None:
        removal = to_removal(parse_line(DOC_CLEARCHAT_ALL))
        assert removal is not None and removal.everything

    def test_privmsg_is_no_removal(self) -> None:
        assert to_removal(parse_line(DOC_PRIVMSG)) is None


class TestHostileNumbers:
    # tag values no Twitch server sends, found by tests/unit/test_chat_fuzz.py: each raised
    # (ValueError from int(), OverflowError when the message was published)
    @pytest.mark.parametrize("tags", [
        "bits=--5", "emotes=25:²-3", "emotes=25:0-99999999999999999999",
        "tmi-sent-ts=999999999999999999999999999999", "msg-param-months=-3"])
    def test_become_zero_or_nothing(self, tags: str) -> None:
        msg = to_chat_message(parse_line(f"@{tags} :u!u@u.tmi.twitch.tv PRIVMSG #x :hey"))
        assert msg is not None
        msgspec.msgpack.encode(msg)  # publishable
        assert (msg.amount, msg.emotes, msg.sent_ns, msg.months) == (0.0, [], 0, 0)
