"""The director as a real process on a real bus, with a scripted stand-in for the LLM, TTS
and speaker (`helpers.director.VoiceStandIn`; the real ones are exercised together in
tests/e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from helpers.director import VoiceStandIn

from bus.testing import NodeProcess, Probe, wait_until
from messages.chat import ChatMessage, ChatNext, ChatNextRequest, ChatNextResponse
from messages.llm import LlmRequest, Sentence
from messages.speech import Transcript, VadEvent

StartNode = Callable[..., NodeProcess]


def start_director(start_node: StartNode, **params: object) -> NodeProcess:
    """The director with no banter, no topics of its own and a short memory wait, unless
    ``params`` say otherwise."""
    return start_node("nodes.director", params={
        "banter_turns": 0, "quiet_s": 1000, "memory_timeout_s": 0.1, **params})


async def asked(probe: Probe, count: int = 1) -> list[LlmRequest]:
    """The requests for words (not the prefills), once ``count`` came."""
    return await probe.wait_for("llm/request", count=count, timeout=20,
                                where=lambda r: not r.prefill)


async def test_chat_reply_then_banter_then_memory(bus_url: str, start_node: StartNode) -> None:
    start_director(start_node, banter_turns=1)
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["Hi Alice!", "Welcome in."], seconds_per_sentence=0.2)
        requests = probe.collect("llm/request")
        turns = probe.collect("director/turn")
        remembered = probe.collect("memory/turn")
        probe.collect("persona/active")
        await probe.wait_for_node("director")
        chat = probe.create_publisher(ChatMessage, "chat/message")
        await chat.wait_for_subscribers()
        chat.publish(ChatMessage(platform="twitch", user="alice", user_id="42",
                                 text="hello everyone", id="m1"))
        first, second = await asked(probe, count=2)
        assert (first.persona, second.persona) == ("mika", "rook")  # answer, then banter
        assert first.messages[-1].content == "alice: hello everyone"
        assert second.messages[-1].content == "Mika: Hi Alice! Welcome in."
        # while Mika's reply played, Rook's prompt with it was computed: the same messages
        prefill = next(m for _, m in requests if m.prefill)
        assert (prefill.persona, prefill.messages) == ("rook", second.messages)
        assert [t.why for _, t in turns[:2]] == ["chat", "banter"]
        assert turns[0][0].trace_id.startswith("_probe/chat/message#")  # the chat's trace
        await probe.wait_for("memory/turn", count=2, timeout=20)
        mika = remembered[0][1]
        assert (mika.persona, mika.viewer, mika.text, mika.cut_off) == (
            "mika", "twitch:42", "Hi Alice! Welcome in.", False)
        assert [p.name for p in probe.messages("persona/active")][:2] == ["mika", "rook"]
        await asyncio.sleep(1.0)
        assert len(await asked(probe)) == 2  # banter stops after one answer


async def test_human_interrupts_and_only_what_was_heard_is_kept(
    bus_url: str, start_node: StartNode
) -> None:
    start_director(start_node)
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["one two three four five six seven eight nine ten.", "Never heard."],
                     seconds_per_sentence=2.0)
        probe.collect("llm/request")
        probe.collect("llm/cancel")
        probe.collect("audio/control")
        remembered = probe.collect("memory/turn")
        await probe.wait_for_node("director")
        chat = probe.create_publisher(ChatMessage, "chat/message")
        await chat.wait_for_subscribers()
        chat.publish(ChatMessage(platform="youtube", user="bob", text="tell me a story", id="m2"))
        await asked(probe)
        await asyncio.sleep(1.1)  # about half of the first sentence is heard
        vad = probe.create_publisher(VadEvent, "speech/vad")
        vad.publish(VadEvent(event="start", utterance_id="u1"))
        (cancel,) = await probe.wait_for("llm/cancel")
        (stop,) = await probe.wait_for("audio/control")
        assert cancel.request_id == stop.request_id and stop.action == "stop"
        await probe.wait_for("memory/turn")
        kept = remembered[0][1]
        assert kept.cut_off and kept.text.startswith("one two")
        assert "ten" not in kept.text and "Never" not in kept.text
        # the human finishes: they are answered, by the persona who spoke least recently
        vad.publish(VadEvent(event="end", utterance_id="u1"))
        probe.create_publisher(Transcript, "speech/final").publish(
            Transcript(utterance_id="u1", text="wait, what about dragons?", final=True))
        answer = (await asked(probe, count=2))[1]
        assert answer.persona == "rook"
        assert answer.messages[-1].content == "Collaborator: wait, what about dragons?"
        assert any("(cut off)" in m.content for m in answer.messages)


async def test_a_reply_that_plays_longer_than_the_audio_timeout_is_not_cut_short(
    bus_url: str, start_node: StartNode
) -> None:
    # the text is complete at once, the audio plays for 3 s: the turn ends when it is heard
    start_director(start_node, audio_timeout_s=1.0)
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["First part.", "Second part.", "Third part."],
                     seconds_per_sentence=1.0)
        remembered = probe.collect("memory/turn")
        await probe.wait_for_node("director")
        chat = probe.create_publisher(ChatMessage, "chat/message")
        await chat.wait_for_subscribers()
        chat.publish(ChatMessage(platform="twitch", user="dee", text="go on", id="m3"))
        await probe.wait_for("memory/turn", timeout=20)
        assert remembered[0][1].text == "First part. Second part. Third part."


async def test_a_chat_line_taken_as_the_human_starts_talking_is_answered_after_them(
    bus_url: str, start_node: StartNode
) -> None:
    start_director(start_node)
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["Sure."], seconds_per_sentence=0.2)
        probe.collect("llm/request")
        vad = probe.create_publisher(VadEvent, "speech/vad")
        line = ChatMessage(platform="twitch", user="carol", user_id="7", id="m4",
                           text="what is your favourite food?")
        served: list[ChatMessage] = []

        async def next_chat(_: ChatNextRequest) -> ChatNextResponse:
            if served:
                return ChatNextResponse()
            served.append(line)
            # the human starts talking while this answer is on its way to the director
            vad.publish(VadEvent(event="start", utterance_id="u2"))
            await asyncio.sleep(0.3)
            return ChatNextResponse(message=line, waiting=0)

        probe.create_service(ChatNext, "chat/next", next_chat)
        await probe.create_client(ChatNext, "chat/next").wait_for_service(10)
        await probe.wait_for_node("director")
        chat = probe.create_publisher(ChatMessage, "chat/message")
        await chat.wait_for_subscribers()
        chat.publish(line)
        await wait_until(lambda: served, 10, what="the director asking chat/next")
        await asyncio.sleep(0.5)
        assert not [r for r in probe.messages("llm/request") if not r.prefill], \
            "nobody talks over the human"
        vad.publish(VadEvent(event="end", utterance_id="u2"))
        probe.create_publisher(Transcript, "speech/final").publish(
            Transcript(utterance_id="u2", text="one moment, chat", final=True))
        human, deferred = await asked(probe, count=2)
        assert human.messages[-1].content == "Collaborator: one moment, chat"
        assert deferred.messages[-1].content == "carol: what is your favourite food?"
        assert len(served) == 1, "the line was kept, not asked for again"


async def test_an_utterance_without_words_gives_the_floor_back(
    bus_url: str, start_node: StartNode
) -> None:
    # the wait for words is endless here: only the empty final can end it
    start_director(start_node, words_wait_s=1000.0)
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["Sure."], seconds_per_sentence=0.2)
        probe.collect("llm/request")
        await probe.wait_for_node("director")
        vad = probe.create_publisher(VadEvent, "speech/vad")
        chat = probe.create_publisher(ChatMessage, "chat/message")
        await chat.wait_for_subscribers()
        vad.publish(VadEvent(event="start", utterance_id="u3"))  # a cough
        vad.publish(VadEvent(event="end", utterance_id="u3"))
        chat.publish(ChatMessage(platform="twitch", user="dee", text="anyone there?", id="m5"))
        await asyncio.sleep(0.5)
        assert not [r for r in probe.messages("llm/request") if not r.prefill], \
            "the floor waits for the words"
        probe.create_publisher(Transcript, "speech/final").publish(
            Transcript(utterance_id="u3", text="", final=True))
        (answer,) = await asked(probe)
        assert answer.messages[-1].content == "dee: anyone there?"


class FaultyVoice(VoiceStandIn):
    """The stand-in, but the first request hangs: unanswered (``sentences_first=0``) or after
    ``sentences_first`` sentences, with no llm/done (a hung LLM that is still registered)."""

    def __init__(self, probe: Probe, sentences_first: int):
        super().__init__(probe, ["Sure thing."], seconds_per_sentence=0.2)
        self.sentences_first = sentences_first
        self.hung: list[LlmRequest] = []

    def on_request(self, request: LlmRequest) -> None:
        if request.prefill or self.hung:
            super().on_request(request)
            return
        self.hung.append(request)
        for index in range(self.sentences_first):
            self.pubs["sentence"].publish(Sentence(request_id=request.request_id,
                                                   persona=request.persona, index=index,
                                                   text="Well, let me think"))


async def test_a_hung_llm_turn_is_cancelled_logged_and_the_floor_moves_on(
    bus_url: str, start_node: StartNode
) -> None:
    for sentences_first, params, reason in (
        (0, {"first_sentence_timeout_s": 1.0}, "no first sentence"),
        (1, {"reply_stall_s": 1.0}, "stopped streaming"),
    ):
        director = start_director(start_node, **params)
        async with Probe(bus_url) as probe:
            voice = FaultyVoice(probe, sentences_first)
            probe.collect("llm/request")
            probe.collect("llm/cancel")
            logs = probe.collect("system/log")
            remembered = probe.collect("memory/turn")
            await probe.wait_for_node("director")
            chat = probe.create_publisher(ChatMessage, "chat/message")
            await chat.wait_for_subscribers()
            chat.publish(ChatMessage(platform="twitch", user="erin", text="first?", id="m6"))
            chat.publish(ChatMessage(platform="twitch", user="erin", text="second?", id="m7"))
            (hung,) = await asked(probe)
            (cancel,) = await probe.wait_for("llm/cancel", timeout=20)
            assert cancel.request_id == hung.request_id
            assert any(e.node == "director" and reason in e.message for _, e in logs), reason
            (answer,) = await probe.wait_for("memory/turn", timeout=20)
            assert answer.text == "Sure thing."  # the next line was answered
            assert (await asked(probe, count=2))[1].messages[-1].content == "erin: second?"
            assert voice.hung == [hung] and len(remembered) == 1  # nothing heard of the first
        director.stop()


async def every_turn_ends(probe: Probe, timeout: float = 30.0) -> list[str]:
    """Wait until every director/turn seen was remembered (memory/turn) or cancelled
    (llm/cancel): a turn is never overwritten without a trace. Returns the turn ids."""
    def ends() -> tuple[list[str], set[str]]:
        started = [t.request_id for t in probe.messages("director/turn")]
        ended = {m.turn_id for m in probe.messages("memory/turn")} | {
            c.request_id for c in probe.messages("llm/cancel")}
        return started, ended

    await wait_until(lambda: not set(ends()[0]) - ends()[1], timeout,
                     what=f"every turn remembered or cancelled: {ends()}")
    return ends()[0]


async def test_a_cut_turns_late_close_never_frees_the_floor_under_the_next_turn(
    bus_url: str, start_node: StartNode
) -> None:
    # the soak's log: banter cut by a line naming the same persona; 0.3 s later the cut
    # turn's close freed the floor by persona while her answer played, and the next chat
    # line overwrote that answer (never remembered, never cancelled). The grace is long
    # here so that the close surely comes while the answer plays.
    start_director(start_node, banter_turns=1, cut_grace_s=1.5)
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["A long sentence to be heard.", "And another one."],
                     seconds_per_sentence=1.5)
        turns = probe.collect("director/turn")
        probe.collect("memory/turn")
        probe.collect("llm/cancel")
        await probe.wait_for_node("director")
        chat = probe.create_publisher(ChatMessage, "chat/message")
        await chat.wait_for_subscribers()
        chat.publish(ChatMessage(platform="twitch", user="fay", text="hello there", id="n1"))
        (banter,) = await probe.wait_for("director/turn", timeout=20,
                                         where=lambda t: t.why == "banter")
        chat.publish(ChatMessage(platform="twitch", user="gus", id="n2",
                                 text=f"{banter.speaker}, what do you think?"))
        chat.publish(ChatMessage(platform="twitch", user="hal", text="nice stream", id="n3"))
        await probe.wait_for("director/turn", count=4, timeout=30)
        started = await every_turn_ends(probe)
        whys = [t.why for _, t in turns]
        assert whys[:4] == ["chat", "banter", "addressed", "chat"], whys
        cancelled = {c.request_id for c in probe.messages("llm/cancel")}
        assert cancelled == {started[1]}, "only the banter was cut"
        # the named persona's answer was heard to its end, before the next line was taken
        answer = next(m for m in probe.messages("memory/turn") if m.turn_id == started[2])
        assert not answer.cut_off and answer.text == "A long sentence to be heard. And another one."


async def test_a_line_naming_a_persona_waits_for_the_chat_reply_in_progress(
    bus_url: str, start_node: StartNode
) -> None:
    # a persona is never cut off mid-reply by chat: named or paid lines go first in the queue
    # and cut only banter and topics (issue 14, soak: most chat turns were cut by named lines)
    start_director(start_node)
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["Let me tell you.", "It was a dark night."],
                     seconds_per_sentence=1.0)
        probe.collect("llm/request")
        probe.collect("director/turn")
        probe.collect("llm/cancel")
        remembered = probe.collect("memory/turn")
        await probe.wait_for_node("director")
        chat = probe.create_publisher(ChatMessage, "chat/message")
        await chat.wait_for_subscribers()
        chat.publish(ChatMessage(platform="twitch", user="ivy", text="tell a story", id="p1"))
        (first,) = await asked(probe)
        chat.publish(ChatMessage(platform="twitch", user="jo", text="rook, you there?", id="p2"))
        chat.publish(ChatMessage(platform="youtube", user="kay", kind="superchat", amount=5.0,
                                 text="a superchat", id="p3"))
        await probe.wait_for("memory/turn", count=3, timeout=30)
        assert not probe.messages("llm/cancel"), "nobody was cut off"
        assert remembered[0][1].turn_id == first.request_id and not remembered[0][1].cut_off
        assert [t.why for t in probe.messages("director/turn")][:3] == [
            "chat", "addressed", "chat"]
