"""NodeHarness as an async context manager: real nodes (the demo talker and listener, and small
ones made here) on the in-memory transport, started as `bus.run.run` would, with no socket."""

from __future__ import annotations

import asyncio

import pytest

from bus.errors import ServiceFailed
from bus.node import LATE_LATCH_RECHECK_S, Node, NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.demo import AddRequest, AddResponse, AddTwoInts, Count
from messages.director import Turn
from messages.system import ParamSetRequest
from nodes.demo.listener import Listener
from nodes.demo.talker import Talker


class Adder(Node):
    """Calls ``demo/add`` (its own, or another node's) when told to on ``demo/count``."""

    def __init__(self, *, options: NodeOptions | None = None, serve: bool = True):
        super().__init__("adder", options=options)
        self.log.warning("loaded without a model")  # before the node is on the bus
        if serve:
            self.create_service(AddTwoInts, "demo/add",
                                lambda r: AddResponse(sum=r.a + r.b))
        self.add = self.create_client(AddTwoInts, "demo/add")
        self.sums = self.create_publisher(Count, "demo/heard")
        self.create_subscription(Count, "demo/count", self.on_count)

    async def on_count(self, msg: Count) -> None:
        answer = await self.add.call(AddRequest(a=msg.value, b=1), timeout=2.0)
        self.sums.publish(Count(value=answer.sum))


class TestStarted:
    async def test_timers_run_and_parameters_are_live(self) -> None:
        async with NodeHarness(Talker, parameters={"rate_hz": 200}) as h:
            await wait_until(lambda: len(h.messages("demo/count")) >= 3, what="three ticks")
            answer = await h.call("talker/set_parameters",
                                  ParamSetRequest(values={"text": "hi"}))
            assert answer.successful
            await h.run_timers()  # one more tick, now
            assert h.messages("demo/count")[-1].text == "hi"
        assert h.transport.closed

    async def test_fed_messages_go_through_the_node(self) -> None:
        async with NodeHarness(Listener) as h:
            header = h.feed("demo/count", Count(value=7), publisher="talker")
            (_, out_header, heard), = [m for m in h.published if m[0] == "demo/heard"]
            assert heard.value == 7 and out_header.trace_id == header.trace_id

    async def test_warnings_from_the_constructor_reach_system_log(self) -> None:
        async with NodeHarness(Adder) as h:
            assert [e.message for e in h.messages("system/log")] == ["loaded without a model"]

    async def test_options_name_the_node(self) -> None:
        async with NodeHarness(Talker, name="talker2", remaps={"demo/count": "demo/c2"}) as h:
            await h.run_timers()
            assert h.node.name == "talker2" and h.messages("demo/c2")

    def test_the_node_is_built_on_entering(self) -> None:
        with pytest.raises(RuntimeError, match="built on entering"):
            NodeHarness(Talker).node  # noqa: B018


class TestTheBusInMemory:
    async def test_a_node_hears_itself_and_calls_its_own_service(self) -> None:
        async with NodeHarness(Adder) as h:
            h.feed("demo/count", Count(value=41))
            await wait_until(lambda: h.messages("demo/heard"), what="the sum")
            assert [c.value for c in h.messages("demo/heard")] == [42]
            graph = await h.node.graph()
            assert [n.info.name for n in graph.nodes if not n.info.hidden] == ["adder"]

    async def test_published_messages_reach_the_node_s_own_subscriptions(self) -> None:
        heard: list[int] = []
        async with NodeHarness(Talker) as h:
            h.node.create_subscription(Count, "demo/count", lambda m: heard.append(m.value))
            await h.run_timers()
            assert heard == []  # the bus hands it back after a hop, never inline
            await h.settle()
            assert heard == [0]

    async def test_a_service_of_another_node_is_served_by_the_test(self) -> None:
        async with NodeHarness(lambda options: Adder(options=options, serve=False)) as h:
            h.serve(AddTwoInts, "demo/add", lambda r: AddResponse(sum=r.a * 100))
            h.feed("demo/count", Count(value=3))
            await wait_until(lambda: h.messages("demo/heard"), what="the answer")
            assert h.messages("demo/heard")[0].value == 300

    async def test_a_failing_served_call_is_a_service_failure(self) -> None:
        async with NodeHarness(lambda options: Adder(options=options, serve=False)) as h:
            h.serve(AddTwoInts, "demo/add", lambda r: 1 / 0)
            with pytest.raises(ServiceFailed, match="ZeroDivisionError"):
                await h.node.add.call(AddRequest(a=1, b=2))  # type: ignore[attr-defined]

    async def test_a_late_subscriber_gets_the_latched_value_once(self) -> None:
        turns: list[str] = []
        async with NodeHarness(Talker) as h:
            h.node.create_publisher(Turn, "director/turn").publish(Turn(speaker="mika"))
            h.node.create_subscription(Turn, "director/turn", lambda t: turns.append(t.speaker))
            await wait_until(lambda: turns, what="the latched value")
            await asyncio.sleep(LATE_LATCH_RECHECK_S + 0.1)  # past the registry's second answer
            assert turns == ["mika"]
