"""Who is talking, with the director as a real process (issue 19, item 6): the node that
writes transcripts lists an ``enrol_wav`` in the registry, so the director tells the
collaborator apart; with ``room_takes_floor`` off someone else's words are remembered as
"Someone in the room" and not answered, and the collaborator's next words are answered with
them as context, the collaborator called by ``human_name``.

Before labels were used, the unknown voice's words were answered as the human's (a request
"Alex: the pizza is here")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import pytest
from helpers.director import VoiceStandIn

from bus.node import Node, NodeOptions
from bus.params import Parameters, at_start
from bus.testing import NodeProcess, Probe
from messages.speech import Transcript
from nodes.director.voices import ROOM

pytestmark = pytest.mark.slow


class EarsParams(Parameters):
    enrol_wav: Annotated[str, at_start("a WAV of the collaborator's voice")] = ""


class Ears(Node):
    """Stands in for the stt node: enrolled (its parameter says so in the registry), it
    publishes labelled final transcripts."""

    def __init__(self, bus_url: str):
        super().__init__("ears", options=NodeOptions(
            bus=bus_url, heartbeat_s=0.2, parameters={"enrol_wav": "alex.wav"}))
        self.params = self.declare_parameters(EarsParams)
        self.final = self.create_publisher(Transcript, "speech/final")


async def wait_enrolled(probe: Probe, timeout: float = 30.0) -> None:
    """Until the director's registry entry says it saw the enrolment (counter voice_enrolled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        graph = await probe.graph()
        if any(s.info.name == "director" and s.info.counters.get("voice_enrolled") == 1
               for s in graph.nodes):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the director did not see the enrolment within {timeout} s")


@pytest.fixture
async def ears(bus_url: str) -> AsyncIterator[Ears]:
    node = Ears(bus_url)
    await node.start()
    yield node
    await node.close()


async def test_someone_in_the_room_is_heard_not_answered(
    bus_url: str, start_node: Callable[..., NodeProcess], ears: Ears
) -> None:
    start_node("nodes.director", params={
        "banter_turns": 0, "quiet_s": 1000, "memory_timeout_s": 0.1, "watch_s": 0.2,
        "human_name": "Alex", "room_takes_floor": False})
    async with Probe(bus_url) as probe:
        VoiceStandIn(probe, ["Sure."], seconds_per_sentence=0.2)
        requests = probe.collect("llm/request")
        remembered = probe.collect("memory/turn")
        await wait_enrolled(probe)
        await ears.final.wait_for_subscribers()

        ears.final.publish(Transcript(utterance_id="u1", text="the pizza is here", final=True,
                                      speaker="unknown"))
        (room,) = await probe.wait_for("memory/turn", timeout=20)
        assert (room.speaker, room.text) == (ROOM, "the pizza is here")

        # the stt node labels the enrolled voice with its speaker_name
        ears.final.publish(Transcript(utterance_id="u2", text="mika, what do you think?",
                                      final=True, speaker="collaborator"))
        (request,) = await probe.wait_for("llm/request", timeout=20,
                                          where=lambda r: not r.prefill)
        assert [m.content for m in request.messages[-2:]] == [
            f"{ROOM}: the pizza is here", "Alex: mika, what do you think?"]
        assert request.persona == "mika"
        await probe.wait_for("memory/turn", count=3, timeout=20)  # Alex's line, Mika's reply
        assert [r.request_id for _, r in requests if not r.prefill] == [request.request_id]
        assert [t.speaker for _, t in remembered] == [ROOM, "Alex", "Mika"]
