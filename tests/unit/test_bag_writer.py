"""bus.bag.writer and bus.bag.reader: what is written is read back exactly, as standard MCAP."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
from mcap.reader import make_reader

from bus.bag import BagReader, BagWriter, bag_files, read_messages
from bus.bag.layout import pack_data
from bus.errors import BagError
from messages.base import Header
from messages.chat import ChatMessage
from messages.director import Persona

encoder = msgspec.msgpack.Encoder()
T0 = 1_700_000_000_000_000_000


def chat(i: int) -> ChatMessage:
    return ChatMessage(platform="console", user=f"viewer{i % 3}", text=f"hello {i}", id=f"m{i}")


def header(i: int, tag: str = "chat.ChatMessage", publisher: str = "chat") -> Header:
    return Header(publisher, i, T0 + i * 1_000_000, tag, f"trace-{i}", T0 + i * 1_000_000 - 5)


def write_chats(path: Path, count: int, **options: object) -> list[tuple[bytes, bytes]]:
    """Write ``count`` chat messages; returns their (raw header, payload) frames."""
    frames = []
    with BagWriter(path, **options) as writer:  # type: ignore[arg-type]
        for i in range(count):
            h = header(i)
            raw, payload = encoder.encode(h), encoder.encode(chat(i))
            writer.write("chat/message", h, raw, payload, log_time=h.stamp_ns + 100)
            frames.append((raw, payload))
    return frames


class TestRoundTrip:
    @pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])  # every chunk compression
    def test_frames_come_back_byte_for_byte(self, tmp_path: Path, compression: str) -> None:
        path = tmp_path / "bag.mcap"
        frames = write_chats(path, 300, compression=compression, chunk_size=4096)
        messages = list(read_messages(path))
        assert [(m.raw_header, m.payload) for m in messages] == frames
        assert [m.msg for m in messages] == [chat(i) for i in range(300)]
        assert messages[7].header == header(7)
        assert messages[7].log_time == header(7).stamp_ns + 100

    def test_header_fields_a_newer_build_adds_survive(self, tmp_path: Path) -> None:
        h = header(0)
        newer = encoder.encode([*msgspec.structs.astuple(h), "a field from the future"])
        with BagWriter(tmp_path / "bag.mcap") as writer:
            writer.write("chat/message", h, newer, encoder.encode(chat(0)))
        (message,) = read_messages(tmp_path / "bag.mcap")
        assert message.raw_header == newer
        assert message.header == h

    def test_the_standard_mcap_reader_reads_it(self, tmp_path: Path) -> None:
        path = tmp_path / "bag.mcap"
        frames = write_chats(path, 200, chunk_size=2048)
        with open(path, "rb") as f:
            reader = make_reader(f)
            summary = reader.get_summary()
            assert summary is not None and summary.statistics is not None
            assert summary.statistics.message_count == 200
            assert len(summary.chunk_indexes) > 1
            (channel,) = summary.channels.values()
            assert (channel.topic, channel.message_encoding) == ("chat/message", "msgpack")
            schema = summary.schemas[channel.schema_id]
            assert (schema.name, schema.encoding) == ("chat.ChatMessage", "jsonschema")
            assert msgspec.json.decode(schema.data)["$ref"] == "#/$defs/ChatMessage"
            records = [msg for _, _, msg in reader.iter_messages()]
        assert [r.sequence for r in records] == list(range(200))
        # the data is the documented layout: msgpack [header, bin payload]
        assert [r.data for r in records] == [pack_data(h, p) for h, p in frames]
        assert msgspec.msgpack.decode(records[0].data)[1] == frames[0][1]
        assert records[0].publish_time == header(0).stamp_ns

    def test_metadata_is_stored(self, tmp_path: Path) -> None:
        with BagWriter(tmp_path / "bag.mcap", metadata={"git_revision": "abc"}):
            pass
        reader = BagReader(tmp_path / "bag.mcap")
        assert list(reader.messages()) == []
        assert reader.metadata == {"vtshow": {"git_revision": "abc"}}
        assert reader.problems == []


class TestUnknownAndBadPayloads:
    def write_one(self, path: Path, tag: str, payload: bytes) -> None:
        with BagWriter(path) as writer:
            h = header(0, tag)
            writer.write("old/topic", h, encoder.encode(h), payload)

    def test_an_unknown_type_comes_as_plain_data(self, tmp_path: Path) -> None:
        payload = encoder.encode({"type": "old.Gone", "x": 1})
        self.write_one(tmp_path / "b.mcap", "old.Gone", payload)
        (message,) = read_messages(tmp_path / "b.mcap")
        assert message.msg == {"type": "old.Gone", "x": 1}
        assert message.decode_error == "unknown type 'old.Gone'"
        assert not message.typed

    def test_a_payload_of_the_wrong_shape_comes_as_plain_data(self, tmp_path: Path) -> None:
        self.write_one(tmp_path / "b.mcap", "chat.ChatMessage",
                       encoder.encode({"type": "chat.ChatMessage", "platform": "console",
                                       "user": "u", "text": 42}))
        (message,) = read_messages(tmp_path / "b.mcap")
        assert message.msg["text"] == 42
        assert message.decode_error.startswith(
            "does not decode as chat.ChatMessage: Expected `str`")

    def test_a_payload_that_is_not_msgpack_comes_as_bytes(self, tmp_path: Path) -> None:
        self.write_one(tmp_path / "b.mcap", "chat.ChatMessage", b"\xc1 not msgpack")
        (message,) = read_messages(tmp_path / "b.mcap")
        assert message.msg == b"\xc1 not msgpack"


class TestSplit:
    def test_split_by_size_reads_back_as_one_bag(self, tmp_path: Path) -> None:
        frames = write_chats(tmp_path / "show.mcap", 400, chunk_size=2048, split_size=6000)
        files = bag_files(tmp_path / "show.mcap")
        assert len(files) > 2
        assert files[0].name == "show_0.mcap"
        assert [(m.raw_header, m.payload) for m in read_messages(tmp_path / "show.mcap")] == frames
        # every file stands alone: its own schema and channel records
        later = list(read_messages(files[-1]))
        assert later and all(m.typed for m in later)

    def test_split_by_duration(self, tmp_path: Path) -> None:
        # messages 1 ms apart, files of 50 ms: 200 messages give 4 files
        write_chats(tmp_path / "show.mcap", 200, split_duration_s=0.05)
        files = bag_files(tmp_path / "show.mcap")
        assert [sum(1 for _ in read_messages(f)) for f in files] == [50, 50, 50, 50]

    def test_a_folder_of_files_is_a_bag(self, tmp_path: Path) -> None:
        write_chats(tmp_path / "show.mcap", 100, chunk_size=1024, split_size=3000)
        assert sum(1 for _ in read_messages(tmp_path)) == 100


class TestTopicsAndTypes:
    def test_one_channel_per_topic_one_schema_per_type(self, tmp_path: Path) -> None:
        path = tmp_path / "b.mcap"
        with BagWriter(path) as writer:
            for i, topic in enumerate(["chat/message", "chat/message", "chat/other"]):
                h = header(i)
                writer.write(topic, h, encoder.encode(h), encoder.encode(chat(i)))
            h = header(3, "director.Persona", "director")
            writer.write("persona/active", h, encoder.encode(h), encoder.encode(Persona(name="a")))
        with open(path, "rb") as f:
            summary = make_reader(f).get_summary()
        assert summary is not None
        assert sorted(c.topic for c in summary.channels.values()) == [
            "chat/message", "chat/other", "persona/active"]
        assert sorted(s.name for s in summary.schemas.values()) == [
            "chat.ChatMessage", "director.Persona"]
        latched = {c.topic: c.metadata["latched"] for c in summary.channels.values()}
        assert latched["persona/active"] == "true"
        assert latched["chat/message"] == "false"
        assert [m.topic for m in read_messages(path, topics=["chat/other"])] == ["chat/other"]

    def test_bad_compression_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="compression must be zstd, lz4 or none, not 'gzip'"):
            BagWriter(tmp_path / "b.mcap", compression="gzip")  # type: ignore[arg-type]


FILL_UNTIL_FULL = textwrap.dedent("""
    import os, resource, signal, sys
    import msgspec
    from bus.bag import BagWriter
    from bus.errors import BagError
    from messages.audio import AudioFrame
    from messages.base import Header
    if sys.argv[2] != "0":  # a file-size limit stands in for a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]),) * 2)
    enc = msgspec.msgpack.Encoder()
    writer = BagWriter(sys.argv[1], compression="none", chunk_size=32 * 1024)
    try:
        for n in range(10**6):
            h = Header("mic", n, 10**18 + n, "audio.AudioFrame")
            writer.write("audio/mic", h, enc.encode(h), enc.encode(AudioFrame(pcm=os.urandom(900))))
    except BagError as exc:
        print(writer.message_count)
        print(exc)
""")


def fill_until_full(path: Path, size_limit: int) -> tuple[int, str]:
    """Write into ``path`` in a subprocess until the disk (or the size limit) refuses."""
    done = subprocess.run([sys.executable, "-c", FILL_UNTIL_FULL, str(path), str(size_limit)],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    count, error = done.stdout.splitlines()
    return int(count), error


class TestFullDisk:
    def test_a_size_limit_leaves_a_readable_file(self, tmp_path: Path) -> None:
        path = tmp_path / "full.mcap"
        kept, error = fill_until_full(path, 200_000)
        assert error == (f"{path}: recording stopped because the file-size limit was reached "
                         f"(File too large); the file was cut back to its last complete chunk "
                         f"and closed, and its {kept} messages stay readable")
        reader = BagReader(path)
        assert [m.header.seq for m in reader.messages()] == list(range(kept))
        assert reader.problems == []  # closed with a footer
        assert kept > 100

    def test_a_full_tmpfs_leaves_a_readable_file(self, tmp_path: Path) -> None:
        mount = tmp_path / "small"
        mount.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                                 capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root); the size-limit test covers it")
        try:
            path = mount / "full.mcap"
            kept, error = fill_until_full(path, 0)
            assert "the disk is full (No space left on device)" in error
            assert [m.header.seq for m in read_messages(path)] == list(range(kept))
            assert os.path.getsize(path) <= 256 * 1024
        finally:
            subprocess.run(["umount", str(mount)], check=False)

    def test_writing_once_closed_is_ignored(self, tmp_path: Path) -> None:
        # messages still arriving while a recorder shuts down are not losses
        writer = BagWriter(tmp_path / "b.mcap")
        writer.close()
        h = header(0)
        writer.write("chat/message", h, encoder.encode(h), encoder.encode(chat(0)))
        assert writer.dropped == 0 and writer.message_count == 0


def test_missing_bag_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(BagError, match=f"{tmp_path}/nope.mcap: no such bag"):
        BagReader(tmp_path / "nope.mcap")



def test_a_bag_that_cannot_be_created_says_where_and_why(tmp_path: Path) -> None:
    (tmp_path / "taken.mcap").mkdir()  # a folder where the file should go
    with pytest.raises(BagError,
                       match=r"taken\.mcap: cannot write a bag file here: Is a directory"):
        BagWriter(tmp_path / "taken.mcap")


def test_a_split_file_that_cannot_be_started_stops_cleanly(tmp_path: Path) -> None:
    (tmp_path / "show_1.mcap").mkdir()  # the second file of the split bag cannot be made
    writer = BagWriter(tmp_path / "show.mcap", chunk_size=1024, split_size=2000)
    with pytest.raises(BagError, match=r"show_1\.mcap: cannot write a bag file here: Is a "
                                       r"directory \(the files before it are complete\)"):
        for i in range(1000):
            h = header(i)
            writer.write("chat/message", h, encoder.encode(h), encoder.encode(chat(i)))
    assert writer.error is not None
    h = header(1000)
    writer.write("chat/message", h, encoder.encode(h), encoder.encode(chat(1000)))
    assert writer.dropped == 1  # refused after the failure: counted, not raised again
    first = list(read_messages(tmp_path / "show_0.mcap"))
    assert [m.header.seq for m in first] == list(range(len(first))) and first
