"""Reading bags, whole or damaged.

`BagReader` walks an MCAP file record by record from the start (it never trusts the summary for
messages, only borrows the channel definitions it repeats), so a bag cut off by a crash or a
full disk, or with flipped bytes, still gives everything that is intact, like ``ros2 bag
reindex`` would: a chunk that fails to decompress or whose CRC does not match is skipped, a
damaged region is skipped by looking for the next valid chunk, and each problem is kept in
`BagReader.problems` as a sentence naming the file and the byte offset.

Messages decode to their current type by the header's tag; an unknown tag (a type this build no
longer has) gives the payload as plain msgpack data, and a payload that does not decode gives
its bytes: never a crash. `BagMessage.decode_error` says why a message is not typed.
"""

from __future__ import annotations

import io
import mmap
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Metadata, Schema

from bus.bag.layout import unpack_data
from bus.bag.writer import MAGIC
from bus.errors import BagError
from messages.base import Header
from messages.catalog import TOPICS, type_for_tag

__all__ = ["BagMessage", "BagReader", "RawRecord", "bag_files", "read_messages"]

_record_head = struct.Struct("<BQ")
_message_head = struct.Struct("<HIQQ")
_KNOWN_OPCODES = {int(op) for op in Opcode}
_OPCODE_NAMES = {int(op): op.name.lower() for op in Opcode}
_MIN_CHUNK_BODY = 8 + 8 + 8 + 4 + 4 + 8
_MAX_CHUNK = 1 << 30


@dataclass(frozen=True)
class BagMessage:
    """One recorded message.

    Attributes
    ----------
    topic:
        The topic it was recorded on.
    header:
        The wire header as recorded: publisher, seq, stamp, type tag, trace.
    msg:
        The payload as its current type; for an unknown tag the plain msgpack data
        (dicts, lists...), for a payload that does not decode its bytes.
    raw_header, payload:
        The two frames exactly as they were on the wire.
    log_time:
        The MCAP log time in ns (the publish stamp).
    decode_error:
        Why ``msg`` is not typed ("" when it is).
    """

    topic: str
    header: Header
    msg: Any
    raw_header: bytes
    payload: bytes
    log_time: int
    decode_error: str = ""

    @property
    def typed(self) -> bool:
        return not self.decode_error


class RawRecord(NamedTuple):
    """A message record before decoding: its channel, log time, and data (a tuple: a scan
    makes one per message)."""

    channel: Channel
    log_time: int
    data: bytes
    offset: int
    """Byte offset of the record (inside the file, or of its chunk) for error messages."""


@dataclass
class _State:
    schemas: dict[int, Schema] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)


def bag_files(path: str | Path) -> list[Path]:
    """The files of a bag: one ``.mcap`` file, a folder of them, or the ``NAME_0.mcap``,
    ``NAME_1.mcap``... of a bag recorded as ``NAME.mcap`` with splitting."""
    path = Path(path)
    if path.is_file():
        return [path]

    def split_index(p: Path) -> int:
        match = re.search(r"_(\d+)$", p.stem)
        return int(match.group(1)) if match else -1

    if path.is_dir():
        found = sorted(path.glob("*.mcap"), key=lambda p: (split_index(p), p.name))
    else:
        found = sorted(path.parent.glob(f"{path.stem}_*.mcap"), key=split_index)
        found = [p for p in found if split_index(p) >= 0]
    if not found:
        raise BagError(f"{path}: no such bag (expected an .mcap file or a folder of them)")
    return found


class BagReader:
    """Read every intact message of a bag (one file, a folder, or the files of a split bag).

    ``problems`` fills as the files are read: each entry names the file and what is wrong.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.files = bag_files(path)
        self.problems: list[str] = []
        self.metadata: dict[str, dict[str, str]] = {}
        self.channels: dict[str, Channel] = {}
        """Topic -> its channel (the last one seen)."""
        self.schemas: dict[str, Schema] = {}
        """Type tag -> its schema record."""
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any] | None] = {}
        self._bad_channels: set[tuple[Path, int]] = set()

    # ---------------------------------------------------------------- messages

    def records(self, topics: Iterable[str] | None = None) -> Iterator[RawRecord]:
        """Every intact message record, in file order, undecoded."""
        wanted = set(topics) if topics is not None else None
        for path in self.files:
            for record in self._scan_file(path):
                if wanted is None or record.channel.topic in wanted:
                    yield record

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Every intact message, decoded (see `BagMessage`), in file order."""
        for record in self.records(topics):
            message = self.decode(record)
            if message is not None:
                yield message

    def decode(self, record: RawRecord, *, payload: bool = True) -> BagMessage | None:
        """One record as a `BagMessage`, or None (and a problem) when its data is not ours;
        ``payload=False`` leaves ``msg`` None (for playing, which sends the bytes)."""
        try:
            raw_header, header, body = unpack_data(record.data)
        except msgspec.DecodeError as exc:
            self.problems.append(
                f"message at byte {record.offset} on {record.channel.topic} is not a "
                f"[header, payload] pair ({exc}): skipped"
            )
            return None
        msg, error = self.decode_payload(header.type, body) if payload else (None, "")
        return BagMessage(record.channel.topic, header, msg, raw_header, body,
                          record.log_time, error)

    def decode_payload(self, tag: str, payload: bytes) -> tuple[Any, str]:
        """``(message, "")`` typed by ``tag``, or ``(plain data or bytes, why)``."""
        if tag not in self._decoders:
            cls = type_for_tag(tag)
            self._decoders[tag] = None if cls is None else msgspec.msgpack.Decoder(cls)
        decoder = self._decoders[tag]
        error = f"unknown type {tag!r}"
        if decoder is not None:
            try:
                return decoder.decode(payload), ""
            except msgspec.DecodeError as exc:
                error = f"does not decode as {tag}: {exc}"
        try:
            return msgspec.msgpack.decode(payload), error
        except msgspec.DecodeError:
            return payload, error

    def latched(self, topic: str) -> bool:
        """Whether ``topic`` was latched when recorded (or is in the catalogue now)."""
        channel = self.channels.get(topic)
        if channel is not None and "latched" in channel.metadata:
            return channel.metadata["latched"] == "true"
        known = TOPICS.get(topic)
        return bool(known and known.latched)

    # ---------------------------------------------------------------- the scan

    def _problem(self, path: Path, text: str) -> None:
        problem = f"{path}: {text}"
        if problem not in self.problems:  # the same bag read again (a looping player)
            self.problems.append(problem)

    def _scan_file(self, path: Path) -> Iterator[RawRecord]:
        with open(path, "rb") as f:
            size = f.seek(0, io.SEEK_END)
            if size < len(MAGIC) or (f.seek(0) == 0 and f.read(len(MAGIC)) != MAGIC):
                raise BagError(f"{path}: not an MCAP bag (it does not start with the MCAP magic)")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                yield from self._scan(path, mm, size)

    def _scan(self, path: Path, mm: mmap.mmap, size: int) -> Iterator[RawRecord]:
        state = _State()
        summary = self._summary_definitions(mm, size)
        pos = len(MAGIC)
        while True:
            if pos >= size:
                self._problem(path, f"ends at byte {size} without a footer: the recording was "
                                    "cut off (killed, or the disk filled up); read what was "
                                    "complete")
                return
            if pos + 9 > size:
                self._problem(path, f"truncated at byte {size} inside a record header")
                return
            opcode, length = _record_head.unpack_from(mm, pos)
            start, end = pos + 9, pos + 9 + length
            if opcode not in _KNOWN_OPCODES and opcode < 0x80:  # 0x80+ are user records
                found = self._resync(mm, pos + 1, size)
                self._problem(path, f"corrupt at byte {pos} (no MCAP record starts there); "
                                    + (f"skipped to the next chunk at byte {found}" if found
                                       else "nothing after it could be read"))
                if found is None:
                    return
                pos = found
                continue
            if opcode not in _KNOWN_OPCODES and end <= size:
                # a user record (0x80+) by the spec, but our bags have none: likely damage
                self._problem(path, f"unknown record (opcode 0x{opcode:02x}) at byte {pos}: "
                                    f"skipped its {length} bytes")
                pos = end
                continue
            if end > size:
                name = _OPCODE_NAMES.get(opcode, hex(opcode))
                self._problem(path, f"truncated at byte {size}: the {name} record at byte {pos} "
                                    f"needs {length} bytes, {size - start} remain; read what "
                                    "came before it")
                return
            if opcode == Opcode.FOOTER:
                if mm[end:end + len(MAGIC)] != MAGIC:
                    self._problem(path, f"the footer at byte {pos} is not followed by the MCAP "
                                        "magic: the file end is damaged")
                return
            try:
                if opcode == Opcode.CHUNK:
                    yield from self._chunk(path, state, summary, mm[start:end], pos)
                elif opcode == Opcode.MESSAGE:
                    record = self._message(path, state, summary, mm, start, length, pos)
                    if record is not None:
                        yield record
                else:
                    self._other(state, opcode, mm[start:end])
            except Exception as exc:  # any parse failure of a damaged record: skip it
                self._problem(path, f"the {_OPCODE_NAMES.get(opcode, hex(opcode))} record at "
                                    f"byte {pos} is corrupt ({type(exc).__name__}: {exc}): "
                                    "skipped")
            pos = end

    def _other(self, state: _State, opcode: int, body: bytes) -> None:
        stream = ReadDataStream(io.BytesIO(body))
        if opcode == Opcode.SCHEMA:
            schema = Schema.read(stream)
            state.schemas[schema.id] = schema
            self.schemas[schema.name] = schema
        elif opcode == Opcode.CHANNEL:
            channel = Channel.read(stream)
            state.channels[channel.id] = channel
            self.channels[channel.topic] = channel
        elif opcode == Opcode.METADATA:
            metadata = Metadata.read(stream)
            self.metadata[metadata.name] = metadata.metadata

    def _message(self, path: Path, state: _State, summary: _State, buf: Any, start: int,
                 length: int, offset: int) -> RawRecord | None:
        channel_id, _seq, log_time, _publish_time = _message_head.unpack_from(buf, start)
        channel = state.channels.get(channel_id) or summary.channels.get(channel_id)
        if channel is None:
            if (path, channel_id) not in self._bad_channels:
                self._bad_channels.add((path, channel_id))
                self._problem(path, f"messages on channel {channel_id} (first at byte {offset}) "
                                    "have no channel record (it was damaged): skipped")
            return None
        return RawRecord(channel, log_time, bytes(buf[start + 22:start + length]), offset)

    def _chunk(self, path: Path, state: _State, summary: _State, body: bytes,
               offset: int) -> Iterator[RawRecord]:
        chunk = Chunk.read(ReadDataStream(io.BytesIO(body)))
        span = f"messages stamped {chunk.message_start_time} to {chunk.message_end_time}"
        try:
            data = _decompress(chunk)
        except Exception as exc:
            self._problem(path, f"the chunk at byte {offset} ({span}) does not decompress "
                                f"({exc}): skipped")
            return
        if chunk.uncompressed_crc and zlib.crc32(data) != chunk.uncompressed_crc:
            self._problem(path, f"the chunk at byte {offset} ({span}) fails its CRC check: "
                                "skipped")
            return
        pos, size = 0, len(data)
        while pos + 9 <= size:
            opcode, length = _record_head.unpack_from(data, pos)
            start, end = pos + 9, pos + 9 + length
            if end > size:
                break
            if opcode == Opcode.MESSAGE:
                record = self._message(path, state, summary, data, start, length, offset)
                if record is not None:
                    yield record
            else:
                self._other(state, opcode, data[start:end])
            pos = end
        if pos != size:
            self._problem(path, f"the chunk at byte {offset} ({span}) ends inside a record: "
                                "read what came before it")

    def _summary_definitions(self, mm: mmap.mmap, size: int) -> _State:
        """The schemas and channels the summary repeats, when the file end is intact: they
        stand in for definitions lost in a damaged part of the data section."""
        found = _State()
        footer_at = size - len(MAGIC) - 9 - 20
        if footer_at < len(MAGIC) or mm[size - len(MAGIC):size] != MAGIC:
            return found
        opcode, length = _record_head.unpack_from(mm, footer_at)
        summary_start, offsets_start = struct.unpack_from("<QQ", mm, footer_at + 9)
        if opcode != Opcode.FOOTER or length != 20 or not 0 < summary_start < footer_at:
            return found
        end = offsets_start if summary_start < offsets_start <= footer_at else footer_at
        pos = summary_start
        try:
            while pos + 9 <= end:
                opcode, length = _record_head.unpack_from(mm, pos)
                if pos + 9 + length > end:
                    break
                if opcode in (Opcode.SCHEMA, Opcode.CHANNEL):
                    self._other(found, opcode, mm[pos + 9:pos + 9 + length])
                pos += 9 + length
        except Exception:  # a damaged summary: the data section is all there is
            return _State()
        return found

    @staticmethod
    def _resync(mm: mmap.mmap, pos: int, size: int) -> int | None:
        """The offset of the next record that parses as a chunk, if any."""
        while True:
            pos = mm.find(b"\x06", pos)
            if pos < 0 or pos + 9 + _MIN_CHUNK_BODY > size:
                return None
            length = int.from_bytes(mm[pos + 1:pos + 9], "little")
            if _MIN_CHUNK_BODY <= length <= size - pos - 9:
                at = pos + 9 + 28
                name_length = int.from_bytes(mm[at:at + 4], "little")
                if name_length in (0, 3, 4) and mm[at + 4:at + 4 + name_length] in (
                        b"", b"lz4", b"zstd"):
                    return pos
            pos += 1


def _decompress(chunk: Chunk) -> bytes:
    if chunk.uncompressed_size > _MAX_CHUNK:  # a damaged size must not allocate gigabytes
        raise ValueError(f"it claims {chunk.uncompressed_size} bytes uncompressed")
    if chunk.compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompress(chunk.data,
                                                       max_output_size=chunk.uncompressed_size)
    if chunk.compression == "lz4":
        import lz4.frame

        return bytes(lz4.frame.decompress(chunk.data))
    if chunk.compression:
        raise ValueError(f"unsupported compression {chunk.compression!r}")
    return bytes(chunk.data)


def read_messages(
    path: str | Path, topics: Iterable[str] | None = None, *, strict: bool = True
) -> Iterator[BagMessage]:
    """Every message of a bag, typed by its current message type (see `BagMessage`).

    Parameters
    ----------
    path:
        An ``.mcap`` file, a folder of them, or the name a split bag was recorded under.
    topics:
        Only these topics (all when None).
    strict:
        Raise `BagError` after the last intact message when the bag is damaged; when False,
        read what is intact silently (use `BagReader` to see the problems).
    """
    reader = BagReader(path)
    yield from reader.messages(topics)
    if strict and reader.problems:
        raise BagError("; ".join(reader.problems))
