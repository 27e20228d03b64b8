"""vtbus's control messages without sockets: `Broker.handle` on given frames, replies recorded
(issue 14, items 4 and 5)."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from bus import protocol as p
from bus.address import resolve
from bus.vtbus import MAX_LATCHED_TOPICS, MAX_NODES, Broker
from messages.director import Turn

PEER = b"\x00peer"


def enc(obj: object) -> bytes:
    return msgspec.msgpack.encode(obj)


class Wire:
    """What the broker sent, and whether sends succeed."""

    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []
        self.up = True

    def __call__(self, frames: list[bytes]) -> bool:
        self.sent.append(frames)
        return self.up


@pytest.fixture
def broker() -> Iterator[Broker]:
    made = Broker(resolve("ipc:///tmp/vt-unit-unused"))
    yield made
    made._ctx.term()


def heartbeat(name: str, pid: int = 1, *, peer: bytes = PEER, services: tuple[str, ...] = ()
              ) -> list[bytes]:
    info = p.NodeInfo(name=name, pid=pid, host="h", started_ns=0,
                      services=[p.Endpoint(s, "demo.AddTwoInts") for s in services])
    return [peer, p.HB, enc(info)]


def latch(topic: str, header: object, payload: bytes) -> list[bytes]:
    return [PEER, p.LATCH, enc(p.LatchMeta(topic)), enc(header), payload]


def latched_values(broker: Broker, topic: str) -> list[list[bytes]]:
    wire = Wire()
    broker.handle([PEER, p.LGET, enc(p.LatchMeta(topic))], wire, 0.0)
    (reply,) = wire.sent
    rest = reply[3:]
    return [rest[i:i + 2] for i in range(0, len(rest), 2)]


TURN = enc(Turn(speaker="mika"))
GOOD_HEADER = ["director", 1, 10, "director.Turn"]


class TestEveryBadMessageIsDropped:
    # (why it is bad, the frames after the identity): each ended vtbus before
    CASES = [
        ("LATCH header an int", [p.LATCH, enc(p.LatchMeta("director/turn")), enc(7), TURN]),
        ("LATCH header a map", [p.LATCH, enc(p.LatchMeta("director/turn")), enc({"a": 1}), TURN]),
        ("LATCH header not UTF-8", [p.LATCH, enc(p.LatchMeta("t")), b"\x94\xa2\xff\xfe\x00\x00\xa1x",
                                    TURN]),
        ("LATCH frames missing", [p.LATCH, enc(p.LatchMeta("director/turn"))]),
        ("LATCH frames extra", [p.LATCH, enc(p.LatchMeta("t")), enc(GOOD_HEADER), TURN, b"x"]),
        ("LATCH meta an int", [p.LATCH, enc(5), enc(GOOD_HEADER), TURN]),
        ("HB info a list", [p.HB, enc([1, 2])]),
        ("HB without info", [p.HB]),
        ("HB info not UTF-8", [p.HB, b"\x81\xa4name\xa2\xff\xfe"]),
        ("LGET meta garbage", [p.LGET, b"\xff\xff"]),
        ("LGET without meta", [p.LGET]),
        ("CALL meta wrong types", [p.CALL, enc({"service": 1, "call_id": 2}), b"", b""]),
        ("CALL without body", [p.CALL, enc(p.CallMeta("s", "c"))]),
        ("REP meta garbage", [p.REP, b"\xc1"]),
        ("REP without meta", [p.REP]),
        ("unknown kind", [b"WHAT", b"x"]),
        ("empty kind", [b""]),
    ]

    @pytest.mark.parametrize(("why", "frames"), CASES, ids=[c[0] for c in CASES])
    def test_counted_and_dropped_and_vtbus_serves_on(
        self, broker: Broker, why: str, frames: list[bytes]
    ) -> None:
        wire = Wire()
        broker.handle([PEER, *frames], wire, 0.0)
        assert sum(broker.bad_input.values()) == 1, why
        assert broker.latched == {} and broker.nodes == {}
        broker.handle(heartbeat("listener"), wire, 0.0)
        assert list(broker.nodes) == ["listener"]

    def test_a_message_without_a_kind(self, broker: Broker) -> None:
        broker.handle([PEER], Wire(), 0.0)
        broker.handle([], Wire(), 0.0)
        assert broker.bad_input["short"] == 2

    def test_a_reply_to_nobody_is_dropped(self, broker: Broker) -> None:
        wire = Wire()
        wire.up = False  # the router refuses an identity it does not know
        broker.handle([PEER, p.REP, enc(p.ReplyMeta(call_id="c", client=b"nobody")), b""],
                      wire, 0.0)
        assert wire.sent[0][0] == b"nobody" and not broker.bad_input


class TestLatchedValues:
    def test_a_value_whose_payload_does_not_decode_is_not_kept(self, broker: Broker) -> None:
        broker.handle(latch("director/turn", GOOD_HEADER, TURN), Wire(), 0.0)
        forged = ["director", 10**6, 2**62, "director.Turn"]
        broker.handle(latch("director/turn", forged, b"\xc1not a turn"), Wire(), 0.0)
        broker.handle(latch("director/turn", ["director", 2, 11, "demo.Count"], TURN), Wire(),
                      0.0)  # another type than the catalogue's for the topic
        assert latched_values(broker, "director/turn") == [[enc(GOOD_HEADER), TURN]]
        assert broker.bad_input["latch"] == 2

    def test_the_newest_value_of_each_publisher_is_kept(self, broker: Broker) -> None:
        broker.handle(latch("director/turn", GOOD_HEADER, TURN), Wire(), 0.0)
        newer = ["director", 2, 20, "director.Turn"]
        broker.handle(latch("director/turn", newer, TURN), Wire(), 0.0)
        other = ["director_b", 0, 5, "director.Turn"]
        broker.handle(latch("director/turn", other, TURN), Wire(), 0.0)
        assert latched_values(broker, "director/turn") == [[enc(newer), TURN],
                                                           [enc(other), TURN]]

    def test_random_topics_keep_a_bounded_cache(self, broker: Broker) -> None:
        for i in range(MAX_LATCHED_TOPICS + 500):
            header = [f"p{i}", 0, i, "x.Unknown"]  # a type this build does not know
            broker.handle(latch(f"rand/{i}", header, enc({"i": i})), Wire(), 0.0)
        assert len(broker.latched) == MAX_LATCHED_TOPICS
        assert latched_values(broker, f"rand/{MAX_LATCHED_TOPICS + 499}") != []


class TestRegistry:
    def test_made_up_names_cannot_push_real_nodes_out(self, broker: Broker) -> None:
        wire = Wire()
        broker.handle(heartbeat("listener"), wire, 0.0)
        for i in range(MAX_NODES + 10):
            broker.handle(heartbeat(f"fake{i}"), wire, 0.0)
        broker.handle(heartbeat("listener", pid=1), wire, 1.0)
        assert len(broker.nodes) == MAX_NODES and broker.nodes["listener"].last_seen == 1.0
        assert broker.bad_input["hb"] == 11

    def test_a_call_to_no_server_is_answered(self, broker: Broker) -> None:
        wire = Wire()
        broker.handle([PEER, p.CALL, enc(p.CallMeta("nobody/serves", "c1")), b"h", b"b"],
                      wire, 0.0)
        ((identity, kind, raw),) = wire.sent
        reply = msgspec.msgpack.decode(raw, type=p.ReplyMeta)
        assert (identity, kind, reply.status) == (PEER, p.REP, "no_service")

    def test_a_server_that_cannot_be_reached_leaves_and_the_next_one_answers(
        self, broker: Broker
    ) -> None:
        broker.handle(heartbeat("old", peer=b"old", services=("demo/add",)), Wire(), 1.0)
        broker.handle(heartbeat("new", peer=b"new", services=("demo/add",)), Wire(), 0.5)
        sent: list[list[bytes]] = []

        def send(frames: list[bytes]) -> bool:  # the killed "old" is gone from the router
            sent.append(frames)
            return frames[0] != b"old"

        broker.handle([PEER, p.CALL, enc(p.CallMeta("demo/add", "c1")), b"h", b"b"], send, 2.0)
        assert [(f[0], f[1]) for f in sent] == [(b"old", p.REQ), (b"new", p.REQ)]
        assert list(broker.nodes) == ["new"]

