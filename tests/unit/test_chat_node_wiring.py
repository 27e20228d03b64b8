"""The chat node's wiring without sockets (NodeHarness): ingest, commands, chat/next, chat/say."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from functools import partial

import pytest
from helpers.chat import chat_line

from bus.errors import ParameterError
from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.chat import ChatMessage, ChatNextRequest, ChatSay
from messages.director import Persona
from nodes.chat.node import ChatNode
from nodes.chat.removal import Removal
from nodes.chat.sources.console import ConsoleSource

UNUSED_BUS = "ipc:///tmp/vt-chat-harness-unused"


@pytest.fixture
async def harness() -> AsyncIterator[NodeHarness]:
    node = ChatNode(options=NodeOptions(bus=UNUSED_BUS, parameters={
        "sources": "console", "personas": "Aria,Blaze",
        "commands": {"discord": {"reply": "{user}: discord.example"}}}))
    yield NodeHarness(node)
    await node.close()


def console_out(harness: NodeHarness) -> io.StringIO:
    source = harness.node.sources[0]  # type: ignore[attr-defined]
    assert isinstance(source, ConsoleSource)
    source.out = io.StringIO()
    return source.out


said = partial(chat_line, user="ann", platform="console")
"""A console line from ann unless the test names someone else."""


class TestIngest:
    async def test_every_message_is_published_and_the_best_is_next(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("chat/incoming", said("hello"))
        harness.feed("chat/incoming", ChatMessage(platform="console", user="fan", text="thanks",
                                                  kind="superchat", amount=2.0, id="sc"))
        assert [m.text for m in harness.messages("chat/message")] == ["hello", "thanks"]
        answer = await harness.call("chat/next", ChatNextRequest())
        assert answer.message.id == "sc" and answer.waiting == 1

    async def test_ask_is_published_with_persona_and_queued_for_it(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("chat/incoming", said("!ask blaze are you a robot"))
        published = harness.messages("chat/message")[0]
        assert (published.command, published.persona, published.text) == (
            "ask", "Blaze", "are you a robot")
        assert (await harness.call("chat/next", ChatNextRequest("Aria"))).message is None
        answer = await harness.call("chat/next", ChatNextRequest("Blaze"))
        assert answer.message.text == "are you a robot"

    async def test_command_reply_goes_back_to_the_platform(self, harness: NodeHarness) -> None:
        out = console_out(harness)
        harness.feed("chat/incoming", said("!discord", user="Sam"))
        harness.node.on_persona(Persona(name="Aria"))  # type: ignore[attr-defined]
        harness.feed("chat/incoming", said("!persona", user="Kim"))
        await wait_until(lambda: out.getvalue().count("\n") == 2, what="two replies")
        assert out.getvalue() == ("chat> Sam: discord.example\n"
                                  "chat> Hosts: Aria, Blaze. On air: Aria.\n")
        assert harness.node.counters["command_replies"] == 2
        assert (await harness.call("chat/next", ChatNextRequest())).message is None

    async def test_refused_commands_are_counted(self, harness: NodeHarness) -> None:
        harness.feed("chat/incoming", said("!lurk"))
        assert harness.node.counters["dropped_command_unknown"] == 1
        assert len(harness.messages("chat/message")) == 1  # still published

    async def test_removal_reaches_the_queue(self, harness: NodeHarness) -> None:
        harness.feed("chat/incoming", said("oops", msg_id="m1"))
        harness.node.on_removal(Removal("console", message_id="m1"))  # type: ignore[attr-defined]
        assert (await harness.call("chat/next", ChatNextRequest())).message is None
        assert harness.node.counters["dropped_removed"] == 1

    async def test_a_ban_covers_the_users_later_messages(self, harness: NodeHarness) -> None:
        # issue 14 item 11: a ban only removed the queued messages; later ones were answered
        harness.node.on_removal(Removal("console", user="ann", user_id="ann"))  # type: ignore[attr-defined]
        harness.feed("chat/incoming", said("I am back", msg_id="m2"))
        harness.feed("chat/incoming", said("hello", user="bob", msg_id="m3"))
        answer = await harness.call("chat/next", ChatNextRequest())
        assert answer.message is not None and answer.message.user == "bob"
        assert answer.waiting == 0
        assert harness.node.counters["dropped_banned"] == 1
        assert [m.user for m in harness.messages("chat/message")] == ["bob"]


class TestSay:
    async def test_say_to_the_console(self, harness: NodeHarness) -> None:
        out = console_out(harness)
        harness.feed("chat/say", ChatSay(text="hi chat"))
        await harness.settle()
        assert out.getvalue() == "chat> hi chat\n"
        assert harness.node.counters["say_queued"] == 1

    async def test_say_to_an_absent_platform(self, harness: NodeHarness) -> None:
        harness.feed("chat/say", ChatSay(text="hi", platform="youtube"))
        await harness.settle()
        assert harness.node.counters["say_no_target"] == 1


class TestParameters:
    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"sources": "myspace"}, "unknown source 'myspace'; known: console, twitch, youtube"),
            ({"sources": "twitch"}, "the twitch source needs twitch_channel"),
            ({"sources": "youtube"}, "the youtube source needs youtube_live_chat_id"),
            ({"triage": {"tiers": ["vip"]}}, r"unknown triage tier\(s\) \['vip'\]"),
            ({"commands": {"x": {"role": "root", "reply": "r"}}}, "unknown role 'root'"),
        ],
    )
    def test_bad_settings_are_refused(self, params: dict[str, object], error: str) -> None:
        with pytest.raises(ParameterError, match=error):
            ChatNode(options=NodeOptions(bus=UNUSED_BUS, parameters=params))
