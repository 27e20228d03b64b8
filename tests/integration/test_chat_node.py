"""The chat node as a real process on a real vtbus: console, bus input, Twitch and YouTube
through loopback fakes, chat/next, chat/say, moderation, credentials, a raid flood."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes.twitch import (
    DOC_CLEARMSG,
    DOC_PRIVMSG_BITS,
    FakeTwitch,
    make_certificate,
    privmsg,
)
from fakes.youtube import CHAT_ID, FakeYouTube, item

from bus.testing import NodeProcess, Probe, wait_until
from messages.base import Header
from messages.chat import ChatMessage, ChatNext, ChatNextRequest, ChatNextResponse, ChatSay
from messages.system import LogEvent

CHAT = "nodes.chat"
TOKEN = "s3cr3t-token"
CERT_HOST = "irc.chat.twitch.test"
StartNode = Callable[..., NodeProcess]


async def ask_next(probe: Probe, persona: str = "") -> ChatNextResponse:
    client = probe.create_client(ChatNext, "chat/next")
    return await client.call(ChatNextRequest(persona=persona), timeout=5.0)


async def counters(probe: Probe, until: Callable[[dict[str, int]], bool] = lambda c: True,
                   timeout: float = 10.0) -> dict[str, int]:
    """What `vtnode info chat` shows as the node's counters, once ``until`` holds (they
    travel with the node's heartbeat, once a second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = (await probe.wait_for_node("chat")).info.counters
        if until(found) or loop.time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def ready(probe: Probe, topic: str = "chat/message") -> list[tuple[Header, ChatMessage]]:
    """Collect ``topic`` once the chat node is on the bus (and our subscription too)."""
    found = probe.collect(topic)
    await probe.wait_for_node("chat")
    await probe.wait_subscribed(topic)
    return found


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWITCH_", "YOUTUBE_"))}
    return {**env, **extra}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"), CERT_HOST)


class TestConsoleAndBus:
    async def test_console_lines_reach_chat_next(self, bus_url: str, start_node: StartNode) -> None:
        node = start_node(CHAT, params={"sources": "console"}, stdin=subprocess.PIPE)
        async with Probe(bus_url) as probe:
            await ready(probe)
            assert node.proc is not None and node.proc.stdin is not None
            node.proc.stdin.write(b"alice: hello from the console\njust text\n")
            node.proc.stdin.flush()
            messages = await probe.wait_for("chat/message", 2)
            assert [(m.user, m.text) for m in messages] == [
                ("alice", "hello from the console"), ("viewer", "just text")]
            answer = await ask_next(probe)
            assert answer.message is not None and answer.message.text == "hello from the console"
            assert answer.waiting == 1
            node.proc.stdin.close()  # end of input ends the source, not the node
            await asyncio.sleep(0.3)
            assert node.proc.poll() is None
            second = await ask_next(probe)
            assert second.message is not None and second.message.text == "just text"
            assert (await ask_next(probe)).message is None

    async def test_bus_input_with_stdin_closed(self, bus_url: str, start_node: StartNode) -> None:
        node = start_node(CHAT, params={"sources": "console"}, stdin=subprocess.DEVNULL)
        async with Probe(bus_url) as probe:
            messages = await ready(probe)
            await probe.wait_for_subscribers("chat/incoming")
            sent = probe.publish("chat/incoming", ChatMessage(
                platform="bag", user="replayed", text="from a recorded bag", id="bag-1"))
            await probe.wait_for("chat/message")
            header, msg = messages[0]
            assert msg.text == "from a recorded bag"
            assert header.trace_id == sent.trace_id  # the chain keeps the bag's trace
            answer = await ask_next(probe)
            assert answer.message is not None and answer.message.id == "bag-1"
            assert node.proc is not None and node.proc.poll() is None

    async def test_no_stdin_at_all(self, bus_url: str) -> None:
        node = NodeProcess(CHAT, bus_url, params={"sources": "console"})
        # `<&-`: file descriptor 0 closed, as under some service managers
        shell = subprocess.Popen(["bash", "-c", 'exec "$@" <&-', "chat", *node.cmd])
        try:
            async with Probe(bus_url) as probe:
                await ready(probe)
                assert (await ask_next(probe)).message is None
                assert shell.poll() is None
        finally:
            shell.terminate()
            shell.wait(10)

    async def test_drops_are_counted(self, bus_url: str, start_node: StartNode) -> None:
        start_node(CHAT, params={"sources": "", "triage": {"blocklist": ["spoiler"]}})
        async with Probe(bus_url) as probe:
            await ready(probe)
            await probe.wait_for_subscribers("chat/incoming")
            for i, text in enumerate(["hi", "hi", "SPOILER ahead", "see https://x.example"]):
                probe.publish("chat/incoming", ChatMessage(platform="bag", user="u", text=text,
                                                           id=f"b{i}"))
            await probe.wait_for("chat/message", 4)

            found = await counters(probe, lambda c: "dropped_link" in c)
            assert {k: v for k, v in found.items() if k.startswith("dropped_")} == {
                "dropped_duplicate": 1, "dropped_blocklist": 1, "dropped_link": 1}


class TestTwitchThroughTheNode:
    async def test_chat_moderation_commands_and_replies(
        self, bus_url: str, start_node: StartNode, certificate: tuple[Path, Path],
        tmp_path: Path,
    ) -> None:
        stderr_file = tmp_path / "chat.stderr"
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*certificate)
        async with FakeTwitch("ircs", token=TOKEN, tls=tls) as server:
            node = NodeProcess(CHAT, bus_url, params={
                "sources": "twitch", "twitch_channel": "dallas", "twitch_url": server.url,
                "twitch_ca_file": str(certificate[0]), "twitch_server_hostname": CERT_HOST,
                "personas": "Aria,Blaze",
            }, env=clean_env(TWITCH_OAUTH_TOKEN=f"oauth:{TOKEN}", TWITCH_LOGIN="aria_bot",
                             VT_LOG_LEVEL="DEBUG"))
            with stderr_file.open("wb") as err:
                node.proc = subprocess.Popen(node.cmd, env=node.env, stderr=err)
                try:
                    async with Probe(bus_url) as probe:
                        messages = await ready(probe)
                        await server.wait_joined()
                        await server.send(
                            privmsg("dallas", "ronni", "delete me", msg_id="abc-123-def",
                                    user_id="87654321"),
                            privmsg("dallas", "viewer2", "keep me"),
                            DOC_PRIVMSG_BITS,
                            privmsg("dallas", "viewer3", "!ask blaze what is your name"),
                            DOC_CLEARMSG,
                        )
                        await probe.wait_for("chat/message", 4)
                        await counters(probe, lambda c: "removals_twitch" in c)
                        first = await ask_next(probe)
                        assert first.message is not None and first.message.kind == "bits"
                        for_aria = await ask_next(probe, persona="Aria")
                        assert for_aria.message is not None
                        assert for_aria.message.text == "keep me"  # "delete me" was removed
                        assert (await ask_next(probe, persona="Aria")).message is None
                        for_blaze = await ask_next(probe, persona="Blaze")
                        assert for_blaze.message is not None
                        assert (for_blaze.message.command, for_blaze.message.text) == (
                            "ask", "what is your name")

                        probe.publish("chat/say", ChatSay(text="hello chat!"))
                        await server.send(privmsg("dallas", "viewer4", "!persona",
                                                  msg_id="ask-4"))
                        await server.wait(lambda: len(server.privmsgs()) == 2, 10, "replies")
                        assert sorted(server.lines("PRIVMSG")) == [
                            "@reply-parent-msg-id=ask-4 PRIVMSG #dallas :Hosts: Aria, Blaze.",
                            "PRIVMSG #dallas :hello chat!"]
                        found = await counters(probe, lambda c: "command_replies" in c)
                        assert found["removals_twitch"] == 1
                        assert found["dropped_removed"] == 1
                        assert found["command_replies"] == 1
                        assert all(TOKEN not in m.text for _, m in messages)
                finally:
                    node.stop()
        assert TOKEN not in stderr_file.read_text()

    async def test_a_bare_token_echoed_by_the_server_is_redacted_everywhere(
        self, bus_url: str, tmp_path: Path
    ) -> None:
        # issue 14 item 6: given as oauth:<token>, the bare <token> a server quoted back
        # reached the chat log and system/log
        stderr_file = tmp_path / "chat.stderr"
        async with FakeTwitch("irc", token=TOKEN, echo_password=True) as server:
            node = NodeProcess(CHAT, bus_url, params={
                "sources": "twitch", "twitch_channel": "dallas", "twitch_url": server.url,
            }, env=clean_env(TWITCH_OAUTH_TOKEN=f"oauth:{TOKEN}", TWITCH_LOGIN="aria_bot"))
            with stderr_file.open("wb") as err:
                node.proc = subprocess.Popen(node.cmd, env=node.env, stderr=err)
                try:
                    async with Probe(bus_url) as probe:
                        logs = probe.collect("system/log", LogEvent)
                        messages = await ready(probe)
                        await probe.wait_subscribed("system/log")
                        await server.wait_joined()
                        await server.drop()  # a second login: the echo again, now on the bus
                        await server.wait_joined(2)
                        await server.send(privmsg("dallas", "leaker", f"the token is {TOKEN}"))
                        await probe.wait_for("chat/message")
                        await probe.wait_for("system/log", where=lambda e: "formatted" in
                                             e.message)
                        assert all(TOKEN not in e.message for _, e in logs)
                        assert any("login refused for aria_bot: Improperly formatted auth: ***"
                                   in e.message for _, e in logs)
                        assert messages[0][1].text == "the token is ***"
                finally:
                    node.stop()
        assert "Improperly formatted auth: ***" in stderr_file.read_text()
        assert TOKEN not in stderr_file.read_text()

    # each missing credential is named, with the parameter that can replace it
    @pytest.mark.parametrize(
        ("env", "error"),
        [
            ({}, "twitch: set the environment variable TWITCH_OAUTH_TOKEN or give the "
                 "twitch_token_file parameter (a file holding it)"),
            ({"TWITCH_OAUTH_TOKEN": "x1234"}, "twitch: set the environment variable "
                                              "TWITCH_LOGIN or the twitch_login parameter"),
        ],
    )
    def test_missing_credential_names_the_variable(self, bus_url: str, env: dict[str, str],
                                                   error: str) -> None:
        node = NodeProcess(CHAT, bus_url, params={"sources": "twitch", "twitch_channel": "x"})
        done = subprocess.run(node.cmd, env=clean_env(**env), capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 1
        assert error in done.stderr


class TestYouTubeThroughTheNode:
    async def test_super_chat_and_key_from_a_file(self, bus_url: str, start_node: StartNode,
                                                  tmp_path: Path) -> None:
        key_file = tmp_path / "youtube.key"
        key_file.write_text("AIzaFromAFile\n")
        with FakeYouTube() as youtube:
            youtube.push_page([item("superChatEvent", "sc1", author="Fan", superChatDetails={
                "amountMicros": "5000000", "currency": "USD", "amountDisplayString": "$5.00",
                "userComment": "love the stream", "tier": 2})], "tok-1")
            start_node(CHAT, params={
                "sources": "youtube", "youtube_live_chat_id": CHAT_ID,
                "youtube_api_base": youtube.base, "youtube_key_file": str(key_file),
                "youtube_daily_quota": 10**9}, env=clean_env())
            async with Probe(bus_url) as probe:
                await ready(probe)
                await wait_until(lambda: len(youtube.gets()) >= 2, 10, what="two polls")
                answer = await ask_next(probe)
                assert answer.message is not None
                assert (answer.message.kind, answer.message.amount, answer.message.text) == (
                    "superchat", 5.0, "love the stream")
            assert youtube.gets()[0].headers["x-goog-api-key"] == "AIzaFromAFile"


    async def test_the_personas_replies_are_not_taken_for_chat(
        self, bus_url: str, start_node: StartNode
    ) -> None:
        # issue 14 item 11: each reply came back on chat/message as the broadcaster and was
        # taken from chat/next ahead of the viewers
        with FakeYouTube() as youtube:
            start_node(CHAT, params={
                "sources": "youtube", "youtube_live_chat_id": CHAT_ID,
                "youtube_api_base": youtube.base, "youtube_daily_quota": 10**9},
                env=clean_env(YOUTUBE_OAUTH_TOKEN="ya29.node-token"))
            async with Probe(bus_url) as probe:
                messages = await ready(probe)
                await probe.wait_for_subscribers("chat/say")
                for i in range(3):
                    probe.publish("chat/say", ChatSay(text=f"persona reply {i}"))
                await wait_until(lambda: len([r for r in youtube.requests
                                              if r.method == "POST"]) == 3, 10, what="3 posts")
                youtube.push_page([item("textMessageEvent", "v1", author="Viewer",
                                        textMessageDetails={"messageText": "a question?"})],
                                  "tok-1")
                await probe.wait_for("chat/message")
                await counters(probe, lambda c: c.get("youtube_own_skipped") == 3)
                assert [m.text for _, m in messages] == ["a question?"]
                answer = await ask_next(probe)
                assert answer.message is not None and answer.message.text == "a question?"
                assert answer.waiting == 0


@pytest.mark.slow
class TestRaid:
    async def test_flood_of_5000_in_2_s(self, bus_url: str, start_node: StartNode) -> None:
        async with FakeTwitch("irc", token=TOKEN) as server:
            start_node(CHAT, params={"sources": "twitch", "twitch_channel": "dallas",
                                     "twitch_url": server.url},
                       env=clean_env(TWITCH_OAUTH_TOKEN=TOKEN, TWITCH_LOGIN="aria_bot"))
            async with Probe(bus_url) as probe:
                messages = await ready(probe)
                await server.wait_joined()
                lines = []
                for i in range(5000):
                    user = f"raider{i % 1500}"
                    if i % 250 == 0:
                        lines.append(privmsg("dallas", user, f"Cheer100 hype {i}", msg_id=f"r{i}")
                                     .replace("@badge-info=;", "@badge-info=;bits=100;"))
                    elif i % 4 == 0:
                        lines.append(privmsg("dallas", user, "RAID HYPE RAID HYPE",
                                             msg_id=f"r{i}"))
                    else:
                        lines.append(privmsg("dallas", user, f"hi from the raid {i}",
                                             msg_id=f"r{i}", first=i % 7 == 0))
                loop = asyncio.get_running_loop()
                start = loop.time()
                for batch in range(20):  # 250 lines every 0.1 s: 5,000 in 2 s
                    await server.send(*lines[batch * 250:(batch + 1) * 250])
                    await asyncio.sleep(max(0.0, start + (batch + 1) * 0.1 - loop.time()))
                await probe.wait_for("chat/message", 5000, timeout=60)
                assert {m.id for _, m in messages} == {f"r{i}" for i in range(5000)}
                answer = await ask_next(probe)
                assert answer.message is not None and answer.message.kind == "bits"
                found = await counters(probe, lambda c: sum(
                    v for k, v in c.items() if k.startswith("dropped_")) + answer.waiting >= 4999)
                # 1,240 copies of the copypasta: the first 3 are caps, the rest copypasta or,
                # from a raider who already sent it, duplicates
                assert found["dropped_caps"] == 3
                assert found["dropped_copypasta"] + found["dropped_duplicate"] == 1237, found
                dropped = sum(v for k, v in found.items() if k.startswith("dropped_"))
                assert dropped + answer.waiting + 1 == 5000
