"""Bags on a real bus: recording, playing, replaying into a node, and the vtbag command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import zmq
from mcap.reader import make_reader

from bus import wire
from bus.address import resolve
from bus.bag import (
    BagReader,
    BagWriter,
    Player,
    Recorder,
    bag_info,
    play,
    read_messages,
    replay,
)
from bus.node import Node, NodeOptions, RawMessage
from bus.testing import Probe, wait_until
from messages.base import Header
from messages.chat import ChatMessage, ChatSay
from messages.director import Persona, Turn

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "tests" / "data" / "golden").glob("*.mcap"))
encoder = msgspec.msgpack.Encoder()


def chat(i: int) -> ChatMessage:
    return ChatMessage(platform="console", user="viewer", text=f"hello {i}", id=f"c{i}")


def vtbag(*args: str) -> list[str]:
    return [sys.executable, "-m", "bus.cli.vtbag", *args]


class Echo(Node):
    """A node under test: answers every chat message on chat/say (inside the callback, so the
    trace carries over)."""

    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("echo", options=options)
        self.say = self.create_publisher(ChatSay, "chat/say")
        self.create_subscription(ChatMessage, "chat/message", self.on_chat)

    def on_chat(self, msg: ChatMessage) -> None:
        self.say.publish(ChatSay(text=f"echo: {msg.text}", reply_to=msg.id))


class TestRecorder:
    async def test_headers_and_payloads_are_stored_exactly(self, bus_url: str,
                                                           tmp_path: Path) -> None:
        path = tmp_path / "r.mcap"
        async with Probe(bus_url, name="chat") as probe, Recorder(path, bus=bus_url) as rec:
            sent = [probe.publish("chat/message", chat(i)) for i in range(20)]
            # a topic that appears after the recording started is picked up too
            sent.append(probe.publish("director/turn", Turn(speaker="aria", why="chat")))
            await rec.wait_for(21)
        got = [m for m in read_messages(path) if m.header.publisher == "chat"]
        assert [m.header for m in got] == sent
        assert [m.raw_header for m in got] == [encoder.encode(h) for h in sent]
        assert [m.msg for m in got[:20]] == [chat(i) for i in range(20)]
        assert got[20].msg == Turn(speaker="aria", why="chat")
        assert rec.lost == 0

    async def test_a_latched_value_published_before_the_start_is_recorded(
        self, bus_url: str, tmp_path: Path
    ) -> None:
        async with Probe(bus_url, name="director") as probe:
            probe.publish("persona/active", Persona(name="aria"))
            await asyncio.sleep(0.3)  # long before the recorder joins
            async with Recorder(tmp_path / "r.mcap", bus=bus_url, exclude="^system/") as rec:
                await rec.wait_for(1)
        (message,) = read_messages(tmp_path / "r.mcap")
        assert (message.topic, message.msg) == ("persona/active", Persona(name="aria"))

    async def test_gaps_in_sequence_numbers_count_as_lost(self, bus_url: str,
                                                          tmp_path: Path) -> None:
        # a publisher whose messages 2, 3 and 4 never made it: raw frames on the wire
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUB)
        sock.connect(resolve(bus_url).data_in)
        try:
            async with Recorder(tmp_path / "r.mcap", bus=bus_url, topics=["chat/message"],
                                ) as rec:
                await asyncio.sleep(0.3)  # the subscription reaches the raw socket
                for seq in (0, 1, 5):
                    h = Header("lossy", seq, 10**18 + seq, "chat.ChatMessage")
                    sock.send_multipart(wire.pack("chat/message", h, encoder.encode(chat(seq))))
                await rec.wait_for(3)
        finally:
            sock.close(linger=0)
            ctx.term()
        assert rec.lost == 3
        assert [m.header.seq for m in read_messages(tmp_path / "r.mcap")] == [0, 1, 5]

    @pytest.mark.parametrize(("options", "recorded"), [
        ({"topics": ["chat/say"]}, {"chat/say"}),                       # exact topics
        ({"include": "^chat/"}, {"chat/message", "chat/say"}),          # -e
        ({"include": "^chat/", "exclude": "say$"}, {"chat/message"}),   # -e and -x
        ({"exclude": "^(chat|system)/"}, {"llm/cancel"}),               # -x alone
    ])
    async def test_filters(self, bus_url: str, tmp_path: Path, options: dict[str, object],
                           recorded: set[str]) -> None:
        from messages.llm import Cancel

        path = tmp_path / "r.mcap"
        async with Probe(bus_url, name="many") as probe, Recorder(
            path, bus=bus_url, **options  # type: ignore[arg-type]
        ) as rec:
            probe.publish("chat/message", chat(0))
            probe.publish("chat/say", ChatSay(text="hi"))
            probe.publish("llm/cancel", Cancel())
            await rec.wait_for(len(recorded))
            await asyncio.sleep(0.2)
        assert {m.topic for m in read_messages(path)} == recorded


class TestPlayer:
    async def test_fast_play_keeps_order_payloads_and_traces(self, bus_url: str,
                                                             tmp_path: Path) -> None:
        path = tmp_path / "r.mcap"
        async with Probe(bus_url, name="chat") as probe, Recorder(path, bus=bus_url,
                                                                  topics=["chat/message"]) as rec:
            sent = [probe.publish("chat/message", chat(i)) for i in range(200)]
            await rec.wait_for(200)
        async with Probe(bus_url, name="listener") as listener:
            got = listener.collect("chat/message")
            result = await play(path, bus_url)
            await listener.wait_for("chat/message", 200)
        assert result.published == 200 and result.problems == []
        assert [m for _, m in got] == [chat(i) for i in range(200)]
        headers = [h for h, _ in got]
        assert [h.trace_id for h in headers] == [h.trace_id for h in sent]
        assert {h.publisher for h in headers} == {"vtbag_play"}
        assert [h.seq for h in headers] == list(range(200))  # its own, so drops are counted
        # the trace stamp moved with the message: the replayed chain latency is the recorded
        # one plus the moment publishing takes (never less, never the hours since recording)
        for new, old in zip(headers, sent, strict=True):
            assert new.trace_stamp_ns > old.trace_stamp_ns
            assert new.stamp_ns - new.trace_stamp_ns >= old.stamp_ns - old.trace_stamp_ns

    async def test_latched_values_go_first_with_a_start_offset(self, bus_url: str,
                                                               tmp_path: Path) -> None:
        path = tmp_path / "show.mcap"
        turn = Header("director", 0, 1_000_000_000, "director.Turn", "t", 1)
        with BagWriter(path) as writer:
            writer.write("director/turn", turn, encoder.encode(turn),
                         encoder.encode(Turn(speaker="aria")), log_time=1_000_000_000)
            for i in range(10):  # a chat message every 100 ms
                stamp = 1_000_000_000 + (i + 1) * 100_000_000
                h = Header("chat", i, stamp, "chat.ChatMessage", f"c{i}", stamp)
                writer.write("chat/message", h, encoder.encode(h), encoder.encode(chat(i)),
                             log_time=stamp)
        async with Probe(bus_url, name="listener") as listener:
            listener.collect_raw("")
            player = Player(path, bus=bus_url, start_offset_s=0.55, rate=10.0)
            try:
                result = await player.play()
            finally:
                await player.close()
            await listener.wait_for("chat/message", 5)
        order = [(h.type, h.publisher) for h, _ in sorted(
            (entry for topic, entries in listener.received.items()
             if topic in ("director/turn", "chat/message") for entry in entries),
            key=lambda e: e[0].stamp_ns)]
        assert order[0] == ("director.Turn", "vtbag_play")
        assert [m.payload for m in listener.messages("chat/message")] == [
            encoder.encode(chat(i)) for i in range(5, 10)]
        assert result.published == 6

    async def test_an_unknown_type_is_played_as_recorded_bytes(self, bus_url: str,
                                                               tmp_path: Path) -> None:
        path = tmp_path / "old.mcap"
        payload = encoder.encode({"type": "old.Gone", "kept": [1, 2]})
        with BagWriter(path) as writer:
            h = Header("old_node", 0, 5, "old.Gone", "t", 5)
            writer.write("old/topic", h, encoder.encode(h), payload)
        async with Probe(bus_url, name="listener") as listener:
            listener.collect_raw("old/", prefix=True)
            await play(path, bus_url)
            await listener.wait_for("old/topic")
        (message,) = listener.messages("old/topic")
        assert isinstance(message, RawMessage)
        assert (message.header.type, message.payload) == ("old.Gone", payload)

    async def test_loop_plays_again_until_shut_down(self, bus_url: str, tmp_path: Path) -> None:
        path = tmp_path / "r.mcap"
        with BagWriter(path) as writer:
            for i in range(3):
                h = Header("chat", i, 10**18 + i * 1000, "chat.ChatMessage", f"c{i}", 10**18)
                writer.write("chat/message", h, encoder.encode(h), encoder.encode(chat(i)))
        async with Probe(bus_url, name="listener") as listener:
            listener.collect("chat/message")
            player = Player(path, bus=bus_url, loop=True)
            task = asyncio.get_running_loop().create_task(player.play())
            await listener.wait_for("chat/message", 9)
            player.shutdown()
            result = await asyncio.wait_for(task, 10)
            await player.close()
        texts = [m.text for m in listener.messages("chat/message")]
        assert texts[:9] == ["hello 0", "hello 1", "hello 2"] * 3
        assert result.published >= 9

    async def test_a_truncated_bag_plays_what_is_intact(self, bus_url: str,
                                                        tmp_path: Path) -> None:
        path = tmp_path / "cut.mcap"
        with BagWriter(path, chunk_size=1024) as writer:
            for i in range(100):
                h = Header("chat", i, 10**18 + i, "chat.ChatMessage", f"c{i}", 10**18)
                writer.write("chat/message", h, encoder.encode(h), encoder.encode(chat(i)))
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(size // 2)
        intact = sum(1 for _ in BagReader(path).messages())
        async with Probe(bus_url, name="listener") as listener:
            listener.collect("chat/message")
            result = await play(path, bus_url)
            await listener.wait_for("chat/message", intact)
        assert 0 < intact < 100
        assert result.published == intact
        assert listener.messages("chat/message") == [chat(i) for i in range(intact)]
        assert result.problems[0].startswith(f"{path}: truncated at byte {size // 2}")

    async def test_shutdown_interrupts_a_long_silence(self, bus_url: str, tmp_path: Path) -> None:
        path = tmp_path / "silent.mcap"
        with BagWriter(path) as writer:
            for i, stamp in enumerate([10**18, 10**18 + 3600 * 10**9]):  # an hour apart
                h = Header("chat", i, stamp, "chat.ChatMessage", f"c{i}", stamp)
                writer.write("chat/message", h, encoder.encode(h), encoder.encode(chat(i)))
        async with Probe(bus_url, name="listener") as listener:
            listener.collect("chat/message")
            player = Player(path, bus=bus_url)
            task = asyncio.get_running_loop().create_task(player.play())
            await listener.wait_for("chat/message")
            player.shutdown()
            result = await asyncio.wait_for(task, 10)  # not an hour
            await player.close()
        assert result.published == 1

    async def test_a_topic_with_two_types_plays_the_first_and_says_so(
        self, bus_url: str, tmp_path: Path
    ) -> None:
        path = tmp_path / "mixed.mcap"
        with BagWriter(path) as writer:
            for i, (tag, msg) in enumerate([("chat.ChatMessage", chat(0)),
                                            ("chat.ChatSay", ChatSay(text="other"))]):
                h = Header("x", i, 10**18 + i, tag, "t", 10**18)
                writer.write("chat/message", h, encoder.encode(h), encoder.encode(msg))
        result = await play(path, bus_url, settle_s=0.0)
        assert result.published == 1
        assert result.problems == [f"{path}: chat/message carries chat.ChatMessage and "
                                   "chat.ChatSay: the chat.ChatSay messages were not played"]

    async def test_remap_and_topics(self, bus_url: str, tmp_path: Path) -> None:
        path = tmp_path / "r.mcap"
        async with Probe(bus_url, name="chat") as probe, Recorder(path, bus=bus_url,
                                                                  include="^chat/") as rec:
            probe.publish("chat/message", chat(1))
            probe.publish("chat/say", ChatSay(text="not played"))
            await rec.wait_for(2)
        async with Probe(bus_url, name="listener") as listener:
            listener.collect_raw("chat/")
            await play(path, bus_url, topics=["chat/message"],
                       remaps={"chat/message": "chat/replayed"})
            await listener.wait_for("chat/replayed")
            await asyncio.sleep(0.2)
        assert set(listener.received) - {"chat/"} == {"chat/replayed"}


@pytest.mark.skipif(not GOLDEN, reason="no golden bag")
class TestReplay:
    async def test_replay_into_a_running_node_collects_its_answers(self, bus_url: str) -> None:
        echo = Echo(options=NodeOptions(bus=bus_url))
        await echo.start()
        try:
            result = await replay(GOLDEN[0], bus_url, into=["echo"], collect=["chat/say"],
                                  topics=["chat/message"])
        finally:
            await echo.close()
        chats = [m for m in read_messages(GOLDEN[0]) if m.topic == "chat/message"]
        answers = result.messages("chat/say")
        assert [a.reply_to for a in answers] == [c.msg.id for c in chats]
        assert [h.trace_id for h, _ in result.received["chat/say"]] == [
            c.header.trace_id for c in chats]
        assert result.played.published == len(chats)


@pytest.mark.slow
class TestCommand:
    def test_record_stops_cleanly_on_ctrl_c_and_info_play_convert(self, bus_url: str,
                                                                  tmp_path: Path) -> None:
        bag = tmp_path / "cli.mcap"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        recorder = subprocess.Popen(vtbag("record", "-o", str(bag), "--bus", bus_url,
                                          "-x", "^system/", "--split-size", "100000"),
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)

        async def talk() -> None:
            async with Probe(bus_url, name="chat") as probe:
                await probe.wait_for_node("vtbag_record")
                # the recorder's subscription to everything reaches this publisher
                await wait_until(lambda: probe.has_subscribers("chat/message"), 10,
                                 what="the recorder's subscription")
                for i in range(50):
                    probe.publish("chat/message", chat(i))
                await asyncio.sleep(0.5)

        asyncio.run(talk())
        recorder.send_signal(signal.SIGINT)
        out, err = recorder.communicate(timeout=30)
        assert recorder.returncode == 0, err
        summary = json.loads(out)
        assert summary["messages"] == 50 and summary["lost"] == 0
        (written,) = summary["recorded"]
        with open(written, "rb") as f:  # finished properly: summary and footer
            assert make_reader(f).get_summary() is not None
        info = json.loads(subprocess.run(vtbag("info", written), cwd=ROOT, env=env,
                                         capture_output=True, text=True, check=True).stdout)
        assert [(t["topic"], t["count"]) for t in info["topics"]] == [("chat/message", 50)]
        assert info["metadata"]["vtshow"]["command"].startswith("vtbag record")
        assert bag_info(written).messages == 50

        played = subprocess.run(vtbag("play", written, "--bus", bus_url, "--fast"), cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        assert played.returncode == 0 and json.loads(played.stdout)["messages"] == 50

        converted = subprocess.run(vtbag("convert", written, "--to", "json", "-o",
                                         str(tmp_path / "j.mcap")), cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=60)
        assert converted.returncode == 0 and json.loads(converted.stdout)["messages"] == 50

    def test_a_killed_recorder_leaves_what_it_flushed(self, bus_url: str,
                                                      tmp_path: Path) -> None:
        bag = tmp_path / "killed.mcap"
        recorder = subprocess.Popen(vtbag("record", "chat/message", "-o", str(bag), "--bus",
                                          bus_url), cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        async def talk() -> None:
            async with Probe(bus_url, name="chat") as probe:
                await probe.wait_for_subscribers("chat/message")
                for i in range(30):
                    probe.publish("chat/message", chat(i))
                await asyncio.sleep(2.5)  # the recorder writes its chunk at least every second

        asyncio.run(talk())
        recorder.kill()
        recorder.wait(10)
        reader = BagReader(bag)
        assert [m.msg for m in reader.messages()] == [chat(i) for i in range(30)]
        assert reader.problems == [f"{bag}: ends at byte {bag.stat().st_size} without a footer: "
                                   "the recording was cut off (killed, or the disk filled up); "
                                   "read what was complete"]

    def test_a_full_disk_stops_the_recorder_with_a_readable_bag(self, bus_url: str,
                                                                tmp_path: Path) -> None:
        import resource

        bag = tmp_path / "full.mcap"

        def limit_file_size() -> None:  # in the child: a small file-size limit, no SIGXFSZ
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

        recorder = subprocess.Popen(
            vtbag("record", "audio/mic", "-o", str(bag), "--bus", bus_url, "--compression",
                  "none"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=limit_file_size)

        async def talk() -> None:
            from messages.audio import AudioFrame

            async with Probe(bus_url, name="mic") as probe:
                await probe.wait_for_subscribers("audio/mic")
                # 200 kB/s for 3 s: the first chunks (written every second) fit, later not
                for _ in range(600):
                    probe.publish("audio/mic", AudioFrame(pcm=os.urandom(1000)))
                    await asyncio.sleep(0.005)

        asyncio.run(talk())
        out, err = recorder.communicate(timeout=30)  # it stops by itself
        assert recorder.returncode == 1
        assert f"{bag}: recording stopped because the file-size limit was reached" in " ".join(
            err.split())
        kept = json.loads(out)["messages"]
        reader = BagReader(bag)
        assert len(list(reader.messages())) == kept > 0
        assert reader.problems == []

    def test_a_damaged_bag_gives_exit_status_1_and_says_why(self, tmp_path: Path) -> None:
        assert GOLDEN
        data = GOLDEN[0].read_bytes()
        cut = tmp_path / "cut.mcap"
        cut.write_bytes(data[: len(data) // 2])
        done = subprocess.run(vtbag("info", str(cut)), cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 1
        assert f"{cut}: truncated at byte {len(data) // 2}" in " ".join(done.stderr.split())

    def test_usage_errors(self, tmp_path: Path) -> None:
        done = subprocess.run(vtbag("info", str(tmp_path / "none.mcap")), cwd=ROOT,
                              capture_output=True, text=True)
        assert done.returncode == 1
        assert "none.mcap: no such bag" in done.stderr
