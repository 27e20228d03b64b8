"""Console lines: ``user: text`` or just text; any stdin, closed or not."""

from __future__ import annotations

import io

import pytest

from messages.chat import ChatMessage
from nodes.chat.sources import SourceHooks
from nodes.chat.sources.console import ConsoleSettings, ConsoleSource, parse_console_line


class TestParse:
    @pytest.mark.parametrize(
        ("line", "user", "text"),
        [
            ("alice: hello there\n", "alice", "hello there"),
            ("hello there", "viewer", "hello there"),
            ("time: 10:30 is fine", "time", "10:30 is fine"),
            ("http://example.com is a link", "viewer", "http://example.com is a link"),
            ("not a name here: text", "viewer", "not a name here: text"),  # names have no spaces
        ],
    )
    def test_lines(self, line: str, user: str, text: str) -> None:
        msg = parse_console_line(line, default_user="viewer", seq=3)
        assert msg is not None
        assert (msg.user, msg.text, msg.platform, msg.id) == (user, text, "console", "console-3")

    def test_blank(self) -> None:
        assert parse_console_line("  \n", default_user="v", seq=1) is None


class TestSource:
    async def test_reads_until_end_of_input(self) -> None:
        got: list[ChatMessage] = []
        source = ConsoleSource(ConsoleSettings(), SourceHooks(got.append),
                               stream=io.StringIO("a: one\n\ntwo\n"))
        await source.run()
        assert [(m.user, m.text) for m in got] == [("a", "one"), ("viewer", "two")]

    async def test_closed_stdin_is_idle(self) -> None:
        stream = io.StringIO("x")
        stream.close()
        got: list[ChatMessage] = []
        await ConsoleSource(ConsoleSettings(), SourceHooks(got.append), stream=stream).run()
        assert got == []

    async def test_say_prints(self) -> None:
        out = io.StringIO()
        source = ConsoleSource(ConsoleSettings(), SourceHooks(lambda m: None), out=out)
        assert await source.say("hello")
        assert out.getvalue() == "chat> hello\n"
