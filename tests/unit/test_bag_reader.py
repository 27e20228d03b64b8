"""bus.bag.reader on damaged bags: a truncated or corrupted recording still gives what is intact,
and says clearly what is wrong, naming the file."""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcap.opcode import Opcode
from mcap.reader import make_reader
from mcap.summary import Summary

from bus.bag import BagReader, Recorder, bag_info, read_messages
from bus.errors import BagError
from bus.testing import BusProcess, Probe
from messages.chat import ChatMessage

COUNT = 300


async def _record(path: Path) -> None:
    with BusProcess() as bus:
        async with Probe(bus.url, name="chat") as probe, Recorder(
            path, bus=bus.url, topics=["chat/message"], chunk_size=2048,
        ) as recorder:
            for i in range(COUNT):
                probe.publish("chat/message",
                              ChatMessage(platform="console", user="viewer", text=f"hello {i}"))
                if i % 50 == 0:
                    await asyncio.sleep(0.01)
            await recorder.wait_for(COUNT)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real recording: 300 chat messages through a real vtbus, in many small chunks."""
    path = tmp_path_factory.mktemp("bags") / "real.mcap"
    asyncio.run(_record(path))
    yield path


@pytest.fixture
def damaged(recorded: Path, tmp_path: Path) -> Path:
    """A copy of the real recording, to damage."""
    return Path(shutil.copy(recorded, tmp_path / "damaged.mcap"))


def texts(path: Path) -> list[str]:
    return [m.msg.text for m in BagReader(path).messages()]


def summary_of(path: Path) -> Summary:
    """The summary section of an intact bag, read by the `mcap` package."""
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None
    return summary


def top_level_offsets(path: Path, opcode: int) -> list[int]:
    """Where the top-level records with ``opcode`` start in an intact bag."""
    data, pos, found = path.read_bytes(), 8, []
    while pos + 9 <= len(data):
        op, length = struct.unpack_from("<BQ", data, pos)
        if op == opcode:
            found.append(pos)
        if op == Opcode.FOOTER:
            break
        pos += 9 + length
    return found


def chunk_offsets(path: Path) -> list[int]:
    """Where the chunks of an intact bag start."""
    return [c.chunk_start_offset for c in summary_of(path).chunk_indexes]


class TestIntact:
    def test_the_recording_reads_whole(self, recorded: Path) -> None:
        assert texts(recorded) == [f"hello {i}" for i in range(COUNT)]
        assert len(chunk_offsets(recorded)) > 5
        assert BagReader(recorded).problems == []


class TestTruncated:
    @pytest.mark.parametrize("where", [
        0.05,   # inside the first chunk
        0.33,   # a third in
        0.5,    # half way
        0.8,    # most of the chunks
        0.97,   # inside the summary, after the data
    ])
    def test_a_cut_file_gives_every_whole_chunk_before_the_cut(
        self, recorded: Path, damaged: Path, where: float
    ) -> None:
        size = damaged.stat().st_size
        cut = int(size * where)
        with open(damaged, "r+b") as f:
            f.truncate(cut)
        chunk_ends = {c.chunk_start_offset: c.chunk_start_offset + c.chunk_length
                      for c in summary_of(recorded).chunk_indexes}
        per_chunk = Counter(record.offset for record in BagReader(recorded).records())
        expected = sum(n for start, n in per_chunk.items() if chunk_ends[start] <= cut)
        reader = BagReader(damaged)
        got = [m.msg.text for m in reader.messages()]
        assert got == [f"hello {i}" for i in range(expected)]  # every whole chunk, in order
        (problem,) = reader.problems
        assert problem.startswith((f"{damaged}: truncated at byte {cut}",
                                   f"{damaged}: ends at byte {cut} without a footer"))

    def test_strict_reading_raises_after_the_intact_messages(self, damaged: Path) -> None:
        with open(damaged, "r+b") as f:
            f.truncate(damaged.stat().st_size // 2)
        read: list[str] = []
        with pytest.raises(BagError, match=f"{damaged}: truncated at byte"):
            for message in read_messages(damaged):
                read.append(message.msg.text)
        assert read == [f"hello {i}" for i in range(len(read))] and read

    def test_a_file_cut_inside_the_magic_is_not_a_bag(self, damaged: Path) -> None:
        with open(damaged, "r+b") as f:
            f.truncate(5)
        with pytest.raises(BagError, match=f"{damaged}: not an MCAP bag"):
            list(read_messages(damaged))

    def test_info_describes_what_is_intact(self, damaged: Path) -> None:
        with open(damaged, "r+b") as f:
            f.truncate(damaged.stat().st_size // 2)
        info = bag_info(damaged)
        assert 0 < info.messages < COUNT
        assert info.topics[0].topic == "chat/message"
        assert info.problems and info.problems[0].startswith(f"{damaged}: truncated at byte")


class TestCorrupt:
    def flip(self, path: Path, offset: int) -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0xFF]))

    def poke(self, path: Path, offset: int, value: int) -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(bytes([value]))

    def test_a_flipped_byte_in_a_chunk_loses_that_chunk_only(self, damaged: Path) -> None:
        offsets = chunk_offsets(damaged)
        self.flip(damaged, offsets[2] + 80)  # inside the third chunk's compressed data
        reader = BagReader(damaged)
        got = [m.msg.text for m in reader.messages()]
        assert 0 < len(got) < COUNT
        numbers = [int(t.split()[1]) for t in got]
        assert numbers == sorted(numbers)
        assert numbers[-1] == COUNT - 1  # the chunks after it are read
        (problem,) = reader.problems
        assert problem.startswith(f"{damaged}: the chunk at byte {offsets[2]} (messages stamped")
        assert problem.endswith(("fails its CRC check: skipped", "): skipped"))

    def test_a_destroyed_record_header_skips_to_the_next_chunk(self, damaged: Path) -> None:
        offsets = chunk_offsets(damaged)
        self.poke(damaged, offsets[3], 0x00)  # the opcode: no record starts there any more
        reader = BagReader(damaged)
        got = [m.msg.text for m in reader.messages()]
        assert got[-1] == f"hello {COUNT - 1}"
        assert len(got) < COUNT
        assert reader.problems[0] == (
            f"{damaged}: corrupt at byte {offsets[3]} (no MCAP record starts there); "
            f"skipped to the next chunk at byte {offsets[4]}")

    def test_an_unknown_opcode_is_skipped_and_reported(self, damaged: Path) -> None:
        offsets = chunk_offsets(damaged)
        self.poke(damaged, offsets[3], 0xF9)  # a user record by the spec: its length still holds
        reader = BagReader(damaged)
        got = [m.msg.text for m in reader.messages()]
        assert got[-1] == f"hello {COUNT - 1}" and len(got) < COUNT
        assert reader.problems[0].startswith(
            f"{damaged}: unknown record (opcode 0xf9) at byte {offsets[3]}: skipped its ")

    def test_a_lost_channel_record_is_taken_from_the_summary(self, damaged: Path) -> None:
        channel_at = top_level_offsets(damaged, Opcode.CHANNEL)[0]  # the data section's copy
        self.poke(damaged, channel_at, 0x00)
        reader = BagReader(damaged)
        assert [m.msg.text for m in reader.messages()] == [f"hello {i}" for i in range(COUNT)]
        assert reader.problems == [
            f"{damaged}: corrupt at byte {channel_at} (no MCAP record starts there); "
            f"skipped to the next chunk at byte {chunk_offsets(damaged)[0]}"]

    def test_flipped_bytes_everywhere_never_crash(self, damaged: Path) -> None:
        size = damaged.stat().st_size
        for offset in range(9, size, 97):  # a byte every 97, all over the file
            self.flip(damaged, offset)
        reader = BagReader(damaged)
        got = list(reader.messages())
        assert reader.problems  # said what is wrong
        assert all(m.topic == "chat/message" for m in got)

    def test_an_empty_file_is_not_a_bag(self, tmp_path: Path) -> None:
        (tmp_path / "empty.mcap").write_bytes(b"")
        with pytest.raises(BagError, match=r"empty\.mcap: not an MCAP bag"):
            list(read_messages(tmp_path / "empty.mcap"))
