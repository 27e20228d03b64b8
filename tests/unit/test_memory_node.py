"""The memory node's wiring, driven through NodeHarness (no sockets) on a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from helpers.chat import chat_line

from bus.errors import ParameterError
from bus.node import NodeOptions
from bus.params import check_values, declaration_of
from bus.testing import NodeHarness, wait_until
from messages.chat import ChatMessage, ChatSay
from messages.memory import (
    ConversationTurn,
    ForgetViewerRequest,
    MemoryQuery,
    MemoryResults,
    MemoryStored,
)
from messages.system import ParamSetRequest
from nodes.memory.node import MemoryNode
from nodes.memory.params import Params


@pytest.fixture
async def harness(memory_store: Path) -> AsyncIterator[NodeHarness]:
    node = MemoryNode(options=NodeOptions(
        bus="ipc:///tmp/vt-memory-unused",
        parameters={"store_path": str(memory_store), "summary_turns": 3}))
    yield NodeHarness(node)
    await node.close()


async def stored(harness: NodeHarness, *ids: str) -> None:
    def done() -> bool:
        acked = {i for m in harness.messages("memory/stored") for i in m.ids}
        return set(ids) <= acked

    await wait_until(done, 20.0, what=f"memories {ids} stored")


async def search(harness: NodeHarness, query: str, **kwargs: object) -> MemoryResults:
    result: MemoryResults = await harness.call("memory/search", MemoryQuery(query=query, **kwargs))
    return result


chat = partial(chat_line, user="alice", user_id="1", msg_id="m1")
"""A twitch line ``m1`` from alice (user id 1) unless the test says otherwise."""


class TestTurns:
    async def test_turn_stored_with_tags_and_acknowledged(self, harness: NodeHarness) -> None:
        harness.feed("memory/turn", ConversationTurn(
            turn_id="t1", speaker="Nova", text="Your cat Biscuit sounds adorable!",
            persona="nova", viewer="twitch:1", stream="s1", stamp_ns=123))
        await stored(harness, "t1")
        [hit] = (await search(harness, "what is the cat's name?", viewer="twitch:1", k=1)).hits
        assert hit.text == "Nova: Your cat Biscuit sounds adorable!"
        assert (hit.kind, hit.persona, hit.viewer, hit.stream, hit.stamp_ns, hit.source_turn,
                hit.cut_off) == ("turn", "nova", "twitch:1", "s1", 123, "t1", False)

    async def test_cut_off_turn_stored_as_heard(self, harness: NodeHarness) -> None:
        harness.feed("memory/turn", ConversationTurn(
            turn_id="t2", speaker="Echo", text="The best pizza topping is", persona="echo",
            cut_off=True))
        await stored(harness, "t2")
        [hit] = (await search(harness, "pizza topping", k=1)).hits
        assert hit.text == "Echo: The best pizza topping is" and hit.cut_off

    async def test_bad_turn_dropped_and_counted(self, harness: NodeHarness) -> None:
        harness.feed("memory/turn", ConversationTurn(turn_id="", speaker="x", text="hi"))
        harness.feed("memory/turn", ConversationTurn(turn_id="t3", speaker="x", text="   "))
        assert harness.node.counters["bad_input"] == 2
        assert harness.messages("memory/stored") == []

    async def test_long_conversation_summarised(self, harness: NodeHarness) -> None:
        for i, text in enumerate(["I just got back from Japan", "Tokyo was amazing",
                                  "the sushi in Osaka was the best"]):
            harness.feed("memory/turn", ConversationTurn(
                turn_id=f"j{i}", speaker="alice", text=text, viewer="twitch:1", stream="s1"))
        await stored(harness, "summary:s1:twitch:1:j0")
        hits = (await search(harness, "travel to Japan", viewer="twitch:1", k=10)).hits
        [summary] = [h for h in hits if h.kind == "summary"]
        assert summary.text.startswith("Conversation with twitch:1 (3 turns): ")


class TestChat:
    async def test_viewer_facts_accrue_from_chat(self, harness: NodeHarness) -> None:
        harness.feed("chat/message", chat("my dog is called Rex"))
        harness.feed("chat/message", chat("I love jazz", user="bob", user_id="2", msg_id="m2"))
        await stored(harness, "chat:twitch:m1", "chat:twitch:m2")
        hits = (await search(harness, "what's my pet's name?", viewer="twitch:1")).hits
        assert hits[0].text == "alice: my dog is called Rex"
        assert all(h.viewer != "twitch:2" for h in hits)

    # chat events that are not remembered: commands, paid events, anonymous lines
    @pytest.mark.parametrize("msg", [
        chat("!ask nova hello"),
        ChatMessage(platform="twitch", user="alice", user_id="1", text="Cheer100", kind="bits"),
        ChatMessage(platform="console", user="someone", text="no user id"),
    ])
    async def test_not_remembered(self, harness: NodeHarness, msg: ChatMessage) -> None:
        harness.feed("chat/message", msg)
        await harness.settle()
        assert harness.messages("memory/stored") == []


class TestFlood:
    async def test_a_burst_is_journaled_at_once_and_stored_in_batches_in_order(
            self, harness: NodeHarness, memory_store: Path) -> None:
        for i in range(200):
            harness.feed("chat/message", chat(f"line {i} about my garden", user=f"v{i % 9}",
                                              user_id=str(i % 9), msg_id=f"b{i}"))
        # journaled on receipt, before any of it was embedded
        assert harness.node.counters["received"] == 200
        assert harness.node.counters["stored"] == 0
        assert (memory_store / "journal.bin").read_bytes().count(b"about my garden") == 200
        ids = [f"chat:twitch:b{i}" for i in range(200)]
        await stored(harness, *ids)
        acks = [i for m in harness.messages("memory/stored") for i in m.ids if i in set(ids)]
        assert acks == ids  # each once, in arrival order
        assert len(harness.messages("memory/stored")) <= 200 // 64 + 1  # batches, not lines

    async def test_lines_before_a_forget_are_forgotten_lines_after_it_kept(
            self, harness: NodeHarness) -> None:
        harness.feed("chat/message", chat("my cat is Biscuit", msg_id="c1"))
        harness.feed("chat/message", chat("!forget", msg_id="c2"))
        harness.feed("chat/message", chat("my parrot is Kiwi", msg_id="c3"))
        await stored(harness, "chat:twitch:c3")
        await wait_until(lambda: harness.messages("chat/say"), 10.0, what="the reply")
        hits = (await search(harness, "my pet", viewer="twitch:1", k=10)).hits
        assert [h.text for h in hits if h.viewer == "twitch:1"] == ["alice: my parrot is Kiwi"]


class TestForget:
    async def test_forget_command_from_the_viewer(self, harness: NodeHarness) -> None:
        harness.feed("chat/message", chat("my cat is Biscuit"))
        await stored(harness, "chat:twitch:m1")
        harness.feed("chat/message", chat("!forget", msg_id="m2"))
        await harness.settle()
        await wait_until(lambda: harness.messages("chat/say"), 10.0, what="the reply")
        [say] = harness.messages("chat/say")
        assert isinstance(say, ChatSay) and say.reply_to == "m2"
        assert "forgotten everything about you" in say.text
        hits = (await search(harness, "cat", viewer="twitch:1")).hits
        assert all(h.viewer != "twitch:1" for h in hits)

    async def test_forget_refused_for_another_viewer(self, harness: NodeHarness) -> None:
        harness.feed("chat/message", chat("my cat is Biscuit"))
        await stored(harness, "chat:twitch:m1")
        harness.feed("chat/message", chat("!forget @alice", user="mallory", user_id="9",
                                          msg_id="m3"))
        await wait_until(lambda: harness.messages("chat/say"), 10.0, what="the reply")
        assert "only the broadcaster or a moderator" in harness.messages("chat/say")[0].text
        assert (await search(harness, "cat", viewer="twitch:1")).hits

    async def test_forget_service(self, harness: NodeHarness) -> None:
        harness.feed("chat/message", chat("my cat is Biscuit"))
        harness.feed("chat/message", chat("and my dog is Rex", msg_id="m2"))
        await stored(harness, "chat:twitch:m1", "chat:twitch:m2")
        response = await harness.call("memory/forget", ForgetViewerRequest(viewer="twitch:1"))
        assert response.removed == 2
        assert (await search(harness, "pets", viewer="twitch:1")).hits == []

    async def test_forget_service_refuses_a_bad_key(self, harness: NodeHarness) -> None:
        with pytest.raises(ValueError, match="viewer must be platform:user_id, got 'alice'"):
            await harness.call("memory/forget", ForgetViewerRequest(viewer="alice"))


async def set_parameters(harness: NodeHarness, **values: object) -> tuple[bool, str]:
    response = await harness.call("memory/set_parameters", ParamSetRequest(values=values))
    return response.successful, response.reason


class TestParameters:
    # (parameter, bad value, the error's words): refused by the declaration, so by the launch
    # check before the node starts, and by the node itself
    @pytest.mark.parametrize(("name", "value", "words"), [
        ("search_backend", "faiss",
         r"parameter 'search_backend' expects Literal\['memory', 'chroma'\], got 'faiss'"),
        ("facts", "zep", r"parameter 'facts' expects Literal\['', 'mem0'\], got 'zep'"),
        ("chroma_port", "abc", "parameter 'chroma_port' expects int, got 'abc'"),
        ("forget_command", "!for get", "parameter 'forget_command' expects str"),
    ])
    def test_bad_values_refused(self, memory_store: Path, name: str, value: str, words: str) -> None:
        with pytest.raises(ParameterError, match=words):
            MemoryNode(options=NodeOptions(bus="ipc:///tmp/vt-memory-unused", parameters={
                "store_path": str(memory_store), name: value}))
        with pytest.raises(ParameterError, match=words):
            check_values(declaration_of("nodes.memory") or Params, {name: value}, node="memory")

    def test_the_launch_check_finds_the_declaration(self) -> None:
        assert declaration_of("nodes.memory") is Params

    async def test_store_path_is_read_at_start(self, harness: NodeHarness,
                                               tmp_path: Path) -> None:
        ok, reason = await set_parameters(harness, store_path=str(tmp_path))
        assert not ok and "store_path is read at start: restart the node" in reason
        assert harness.node.get_parameter("store_path") != str(tmp_path)

    async def test_max_k_set_caps_the_next_search(self, harness: NodeHarness) -> None:
        for i, word in enumerate(["one", "two", "three"]):
            harness.feed("chat/message", chat(word, user_id=f"{i}", msg_id=f"m{i}"))
        await stored(harness, "chat:twitch:m0", "chat:twitch:m1", "chat:twitch:m2")
        assert len((await search(harness, "numbers", k=3)).hits) == 3
        assert await set_parameters(harness, max_k=1) == (True, "")
        assert len((await search(harness, "numbers", k=3)).hits) == 1

    async def test_forget_command_set_takes_the_next_line(self, harness: NodeHarness) -> None:
        assert await set_parameters(harness, forget_command="!vergiss") == (True, "")
        harness.feed("chat/message", chat("!forget", msg_id="m2"))
        harness.feed("chat/message", chat("!vergiss", msg_id="m3"))
        await wait_until(lambda: harness.messages("chat/say"), 10.0, what="the reply")
        [say] = harness.messages("chat/say")
        assert say.reply_to == "m3"

    async def test_summary_turns_set_applies_to_the_open_conversation(
            self, harness: NodeHarness) -> None:
        # the fixture summarises every 3 turns; from 2 on, two turns make a summary
        assert await set_parameters(harness, summary_turns=2) == (True, "")
        for i, text in enumerate(["I grow tomatoes", "and basil on my balcony"]):
            harness.feed("memory/turn", ConversationTurn(
                turn_id=f"g{i}", speaker="alice", text=text, viewer="twitch:1", stream="s1"))
        await stored(harness, "summary:s1:twitch:1:g0")


class TestSearch:
    # (k asked, results at most): k is capped by max_k and never negative
    @pytest.mark.parametrize(("k", "most"), [(0, 0), (-3, 0), (2, 2), (10_000, 50)])
    async def test_k_limits(self, harness: NodeHarness, k: int, most: int) -> None:
        # three viewers, so that no conversation reaches summary_turns and adds a summary
        for i, word in enumerate(["one", "two", "three"]):
            harness.feed("chat/message", chat(word, user_id=f"{i}", msg_id=f"m{i}"))
        await stored(harness, "chat:twitch:m0", "chat:twitch:m1", "chat:twitch:m2")
        hits = (await search(harness, "numbers", k=k)).hits
        assert len(hits) == min(most, 3)

    async def test_stored_message_type(self, harness: NodeHarness) -> None:
        harness.feed("chat/message", chat("hello there"))
        await stored(harness, "chat:twitch:m1")
        assert isinstance(harness.messages("memory/stored")[0], MemoryStored)
