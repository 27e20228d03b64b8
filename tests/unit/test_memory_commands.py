"""The !forget chat command: who may forget whom."""

from __future__ import annotations

from functools import partial

import pytest
from helpers.chat import chat_line

from messages.chat import ChatMessage
from nodes.memory.commands import ViewerDirectory, parse_forget

chat = partial(chat_line, user="alice", user_id="1")
"""A twitch line from alice (user id 1) unless the test names someone else."""


@pytest.fixture
def directory() -> ViewerDirectory:
    directory = ViewerDirectory()
    directory.saw(chat("hello", user="Bob", user_id="2"))
    return directory


class TestParseForget:
    # (message, viewer forgotten ("" = refused), words in the reply)
    @pytest.mark.parametrize(("msg", "viewer", "reply"), [
        # a viewer forgets themself
        (chat("!forget"), "twitch:1", "forgotten everything about you"),
        (chat("!FORGET me"), "twitch:1", "forgotten everything about you"),
        # a viewer may name themself too
        (chat("!forget twitch:1"), "twitch:1", "forgotten everything"),
        # not someone else
        (chat("!forget @bob"), "", "only the broadcaster or a moderator"),
        (chat("!forget twitch:2"), "", "only the broadcaster or a moderator"),
        # moderators and the broadcaster may, by name (any case, with or without @) or key
        (chat("!forget @BOB", roles=["moderator"]), "twitch:2", "forgotten everything about"),
        (chat("!forget bob", roles=["broadcaster"]), "twitch:2", "forgotten everything about"),
        (chat("!forget youtube:UC9", roles=["moderator"]), "youtube:UC9", "forgotten"),
        # a name never seen in chat
        (chat("!forget @carol", roles=["moderator"]), "", "don't know a viewer called @carol"),
        # no user id: cannot know who asked
        (chat("!forget", user_id=""), "", "can't tell who you are"),
    ])
    def test_decisions(self, directory: ViewerDirectory, msg: ChatMessage, viewer: str,
                       reply: str) -> None:
        command = parse_forget(msg, directory)
        assert command is not None
        assert command.viewer == viewer
        assert reply in command.reply
        assert command.reply.startswith(f"@{msg.user} ")

    # other chat lines are not commands
    @pytest.mark.parametrize("text", ["", "hello", "!forgetful", "please !forget me", "!ask x"])
    def test_not_a_command(self, directory: ViewerDirectory, text: str) -> None:
        assert parse_forget(chat(text), directory) is None

    def test_configured_command_word(self, directory: ViewerDirectory) -> None:
        command = parse_forget(chat("!vergiss"), directory, command="!vergiss")
        assert command is not None and command.viewer == "twitch:1"


class TestViewerDirectory:
    def test_oldest_dropped_beyond_capacity(self) -> None:
        directory = ViewerDirectory(capacity=2)
        for i in range(3):
            directory.saw(chat("hi", user=f"u{i}", user_id=str(i)))
        assert directory.find("twitch", "u0") is None
        assert directory.find("twitch", "U2") == "twitch:2"

    def test_needs_a_user_id(self) -> None:
        directory = ViewerDirectory()
        directory.saw(chat("hi", user="anon", user_id=""))
        assert directory.find("twitch", "anon") is None
