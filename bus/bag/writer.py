"""Writing bags: bus messages into MCAP files, fast enough to record a whole show.

The `mcap` package's writer costs about 6 us a message here (a dataclass and six small writes
each), which alone would cap recording near 100k msg/s on an idle core. Message records are
therefore packed straight into the chunk buffer with one `struct` call; every other record
(schemas, channels, chunks, indexes, the summary) is written with the `mcap` package's own
record classes, so the files are standard MCAP that `mcap`, Foxglove and Lichtblick read.

A full disk (``ENOSPC``, ``EDQUOT``) or a file-size limit (``EFBIG``) never leaves a broken file:
the file is cut back to the last complete chunk and closed with a footer, so everything written
before stays readable, and `BagWriter.write` raises `BagError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import (
    Channel,
    Chunk,
    ChunkIndex,
    DataEnd,
    Footer,
    Metadata,
    MetadataIndex,
    Schema,
    Statistics,
    SummaryOffset,
)
from mcap.records import Header as McapHeader

from bus.bag.layout import (
    MESSAGE_ENCODING,
    METADATA_NAME,
    PROFILE,
    SCHEMA_ENCODING,
    bin_prefix,
)
from bus.errors import BagError
from messages.base import Header
from messages.catalog import TOPICS, json_schema, type_for_tag

__all__ = ["DEFAULT_CHUNK_SIZE", "BagWriter", "Compression", "split_paths"]

Compression = Literal["zstd", "lz4", "none"]
DEFAULT_CHUNK_SIZE = 1 << 20
MAGIC = b"\x89MCAP0\r\n"
LIBRARY = "vtshow-bag/1"
_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file-size limit was reached",
}

# opcode, record length, channel id, sequence, log time, publish time, then 0x92 (the msgpack
# array of two that opens the data: see bus/bag/layout.py)
_message_head = struct.Struct("<BQHIQQB").pack
_BIN8 = [b"\xc4" + bytes([n]) for n in range(256)]
_MESSAGE_HEAD_SIZE = 22 + 1  # the record body before the header bytes, 0x92 included
_OP_MESSAGE = int(Opcode.MESSAGE)


def _compress(data: bytes, compression: Compression) -> tuple[str, bytes]:
    if compression == "zstd":
        import zstandard

        return "zstd", zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "lz4":
        import lz4.frame

        return "lz4", lz4.frame.compress(data)
    return "", data


def split_paths(path: Path, index: int) -> Path:
    """The name of the ``index``-th file of a split bag: ``show.mcap`` -> ``show_0.mcap``."""
    return path.with_name(f"{path.stem}_{index}.mcap")


@dataclass
class _ChannelInfo:
    id: int
    topic: str
    schema_id: int
    metadata: dict[str, str]


class _McapFile:
    """One MCAP file being written: chunks of message records, then the summary."""

    def __init__(self, path: Path, compression: Compression, chunk_size: int):
        self.path = path
        self.compression: Compression = compression
        self.chunk_size = chunk_size
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.pos = 0
        self.schemas: list[Schema] = []
        self.channels: list[Channel] = []
        self.chunk_indexes: list[ChunkIndex] = []
        self.metadata_indexes: list[MetadataIndex] = []
        self.channel_counts: defaultdict[int, int] = defaultdict(int)
        self.message_count = 0
        self.start_time = 0
        self.end_time = 0
        self.first_stamp = -1
        """Log time of the first message (kept only when splitting by duration)."""
        self._reset_chunk()
        builder = RecordBuilder()
        McapHeader(profile=PROFILE, library=LIBRARY).write(builder)
        try:
            self._write(MAGIC + builder.end())
        except OSError:
            os.close(self.fd)
            raise

    # ---------------------------------------------------------------- records

    def _reset_chunk(self) -> None:
        self.chunk = bytearray()
        self.chunk_index: dict[int, list[int]] = {}
        """Channel id -> [log time, offset in the chunk, log time, offset...]"""

    def _write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.pos += len(data)

    def add_schema(self, schema: Schema) -> None:
        self.schemas.append(schema)
        builder = RecordBuilder()
        schema.write(builder)
        self._write(builder.end())

    def add_channel(self, channel: Channel) -> None:
        self.channels.append(channel)
        builder = RecordBuilder()
        channel.write(builder)
        self._write(builder.end())

    def add_metadata(self, name: str, data: Mapping[str, str]) -> None:
        builder = RecordBuilder()
        Metadata(name=name, metadata=dict(data)).write(builder)
        record = builder.end()
        self.metadata_indexes.append(MetadataIndex(offset=self.pos, length=len(record), name=name))
        self._write(record)

    def add_message(self, channel_id: int, seq: int, stamp: int, publish_stamp: int,
                    raw_header: bytes, payload: bytes) -> None:
        chunk = self.chunk
        size = len(payload)
        prefix = _BIN8[size] if size < 256 else bin_prefix(size)
        index = self.chunk_index.get(channel_id)
        if index is None:
            index = self.chunk_index[channel_id] = []
        index.append(stamp)  # times, counts and bounds are worked out per chunk
        index.append(len(chunk))
        # the data is layout.pack_data(raw_header, payload), built in place
        chunk += _message_head(_OP_MESSAGE, _MESSAGE_HEAD_SIZE + len(raw_header) + len(prefix)
                               + size, channel_id, seq & 0xFFFFFFFF, stamp, publish_stamp, 0x92)
        chunk += raw_header
        chunk += prefix
        chunk += payload
        if len(chunk) >= self.chunk_size:
            self.finish_chunk()

    def finish_chunk(self) -> None:
        """Compress and write the chunk in progress with its message indexes (one write)."""
        if not self.chunk_index:
            return
        data = bytes(self.chunk)
        compression, compressed = _compress(data, self.compression)
        stamps = [flat[0::2] for flat in self.chunk_index.values()]
        start, end = min(min(s) for s in stamps), max(max(s) for s in stamps)
        builder = RecordBuilder()
        Chunk(
            message_start_time=start, message_end_time=end,
            uncompressed_size=len(data), uncompressed_crc=zlib.crc32(data),
            compression=compression, data=compressed,
        ).write(builder)
        chunk_length = builder.count
        offsets: dict[int, int] = {}
        for channel_id, flat in self.chunk_index.items():
            offsets[channel_id] = self.pos + builder.count
            builder.start_record(Opcode.MESSAGE_INDEX)
            builder.write2(channel_id)
            builder.write4(len(flat) * 8)
            builder.write(struct.pack(f"<{len(flat)}Q", *flat))
            builder.finish_record()
        record = builder.end()
        index = ChunkIndex(
            message_start_time=start, message_end_time=end,
            chunk_start_offset=self.pos, chunk_length=chunk_length,
            message_index_offsets=offsets, message_index_length=len(record) - chunk_length,
            compression=compression, compressed_size=len(compressed),
            uncompressed_size=len(data),
        )
        self._write(record)
        # counted only once on disk: a full disk must not count what it refused
        self.chunk_indexes.append(index)
        self.start_time = start if self.message_count == 0 else min(self.start_time, start)
        self.end_time = max(self.end_time, end)
        for channel_id, flat in self.chunk_index.items():
            self.channel_counts[channel_id] += len(flat) // 2
            self.message_count += len(flat) // 2
        self._reset_chunk()

    # ---------------------------------------------------------------- closing

    def finish(self) -> None:
        """Write the last chunk, the summary and the footer, and close the file."""
        self.finish_chunk()
        builder = RecordBuilder()
        DataEnd(data_section_crc=0).write(builder)
        self._write(builder.end())
        summary_start = self.pos
        builder = RecordBuilder()
        offsets: list[SummaryOffset] = []

        def group(opcode: Opcode, records: list[Schema] | list[Channel] | list[Statistics]
                  | list[ChunkIndex] | list[MetadataIndex]) -> None:
            if not records:
                return
            start = builder.count
            for record in records:
                record.write(builder)
            offsets.append(SummaryOffset(group_opcode=opcode, group_start=summary_start + start,
                                         group_length=builder.count - start))

        counts = {c.id: 0 for c in self.channels}
        counts.update(self.channel_counts)
        statistics = Statistics(
            message_count=self.message_count, schema_count=len(self.schemas),
            channel_count=len(self.channels), attachment_count=0,
            metadata_count=len(self.metadata_indexes), chunk_count=len(self.chunk_indexes),
            message_start_time=self.start_time, message_end_time=self.end_time,
            channel_message_counts=counts,
        )
        group(Opcode.SCHEMA, self.schemas)
        group(Opcode.CHANNEL, self.channels)
        group(Opcode.STATISTICS, [statistics])
        group(Opcode.CHUNK_INDEX, self.chunk_indexes)
        group(Opcode.METADATA_INDEX, self.metadata_indexes)
        offset_start = summary_start + builder.count
        for offset in offsets:
            offset.write(builder)
        summary = builder.end()
        crc = zlib.crc32(summary)
        crc = zlib.crc32(struct.pack("<BQQQ", Opcode.FOOTER, 20, summary_start, offset_start), crc)
        builder = RecordBuilder()
        Footer(summary_start=summary_start, summary_offset_start=offset_start,
               summary_crc=crc).write(builder)
        self._write(summary + builder.end() + MAGIC)
        os.close(self.fd)
        self.fd = -1

    def abort(self, good_pos: int) -> None:
        """After a failed write: cut back to ``good_pos`` (the end of the last whole record),
        then try to close with a footer and no summary; a file left without one is still read
        by `bus.bag.reader` up to ``good_pos``."""
        try:
            os.ftruncate(self.fd, good_pos)
            os.lseek(self.fd, good_pos, os.SEEK_SET)
            self.pos = good_pos
            builder = RecordBuilder()
            DataEnd(data_section_crc=0).write(builder)
            Footer(summary_start=0, summary_offset_start=0, summary_crc=0).write(builder)
            self._write(builder.end() + MAGIC)
        except OSError:  # not even room for the footer: end at the last whole record
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, good_pos)
        finally:
            os.close(self.fd)
            self.fd = -1


class BagWriter:
    """Write bus messages into a bag, optionally split into several files.

    Parameters
    ----------
    path:
        The ``.mcap`` file to write; when split, ``NAME_0.mcap``, ``NAME_1.mcap``... beside it.
    compression:
        Chunk compression.
    chunk_size:
        Uncompressed bytes per chunk.
    split_size:
        Start a new file once one reaches this many bytes (0: never).
    split_duration_s:
        Start a new file once one spans this many seconds of messages (0: never).
    metadata:
        Written into every file as the ``vtshow`` metadata record.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        compression: Compression = "zstd",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        split_size: int = 0,
        split_duration_s: float = 0.0,
        metadata: Mapping[str, str] | None = None,
    ):
        if compression not in ("zstd", "lz4", "none"):
            raise ValueError(f"compression must be zstd, lz4 or none, not {compression!r}")
        self.path = Path(path)
        self.compression: Compression = compression
        self.chunk_size = chunk_size
        self.split_size = split_size
        self.split_ns = int(split_duration_s * 1e9)
        self.metadata = dict(metadata or {})
        self.paths: list[Path] = []
        self.message_count = 0
        self.dropped = 0
        """Messages refused after the bag could not be written any more."""
        self.error: BagError | None = None
        self._channels: dict[tuple[str, str], _ChannelInfo] = {}
        self._channel_ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[str, Schema | None] = {}
        self._file: _McapFile | None = None
        self._open_next()

    @property
    def split(self) -> bool:
        return bool(self.split_size or self.split_ns)

    def _open_next(self) -> None:
        path = split_paths(self.path, len(self.paths)) if self.split else self.path
        self._file = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = _McapFile(path, self.compression, self.chunk_size)
        except OSError as exc:
            if path.is_file() and path.stat().st_size < len(MAGIC) + 64:
                path.unlink()  # a file that never got its header would read as "not a bag"
            before = " (the files before it are complete)" if self.paths else ""
            self.error = BagError(f"{path}: cannot write a bag file here: {exc.strerror}{before}")
            raise self.error from exc
        self._file = file
        self.paths.append(path)
        try:
            file.add_metadata(METADATA_NAME, self.metadata)
            for schema in self._schemas.values():
                if schema is not None:
                    file.add_schema(schema)
            for channel in self._channels.values():
                file.add_channel(Channel(id=channel.id, topic=channel.topic,
                                               message_encoding=MESSAGE_ENCODING,
                                               schema_id=channel.schema_id,
                                               metadata=channel.metadata))
        except OSError as exc:
            self._fail(exc)

    def _schema_id(self, tag: str) -> int:
        if tag not in self._schemas:
            cls = type_for_tag(tag)
            schema = None
            if cls is not None:  # an unknown type is stored without a schema (id 0)
                schema = Schema(id=sum(1 for s in self._schemas.values() if s) + 1, name=tag,
                                encoding=SCHEMA_ENCODING,
                                data=msgspec.json.encode(json_schema(cls)))
            self._schemas[tag] = schema
            if schema is not None and self._file is not None:
                self._file.add_schema(schema)
        schema = self._schemas[tag]
        return 0 if schema is None else schema.id

    def _channel(self, topic: str, tag: str) -> _ChannelInfo:
        schema_id = self._schema_id(tag)
        known = TOPICS.get(topic)
        metadata = {"type": tag, "latched": "true" if known and known.latched else "false"}
        info = _ChannelInfo(len(self._channels) + 1, topic, schema_id, metadata)
        self._channels[(topic, tag)] = info
        self._channel_ids[(topic, tag)] = info.id
        if self._file is not None:
            self._file.add_channel(Channel(id=info.id, topic=topic,
                                           message_encoding=MESSAGE_ENCODING,
                                           schema_id=schema_id, metadata=metadata))
        return info

    def write(self, topic: str, header: Header, raw_header: bytes, payload: bytes,
              log_time: int = 0) -> None:
        """Add one message as it came off the wire, received at ``log_time`` (ns; the publish
        stamp when 0). The MCAP record's publish time is the header's stamp.

        Raises
        ------
        BagError
            The disk is full (or a file-size limit was hit): the file was closed and stays
            readable up to its last complete chunk; later messages are counted in ``dropped``.
        """
        file = self._file
        if file is None:  # failed (count what is refused) or closed (stragglers: ignore)
            if self.error is not None:
                self.dropped += 1
            return
        try:
            channel_id = self._channel_ids.get((topic, header.type))
            if channel_id is None:
                channel_id = self._channel(topic, header.type).id
            stamp = log_time or header.stamp_ns
            if self.split_ns:
                if file.first_stamp < 0:
                    file.first_stamp = stamp
                elif stamp - file.first_stamp >= self.split_ns:
                    self._rotate()
                    file = self._file
                    assert file is not None
                    file.first_stamp = stamp
            self.message_count += 1  # before: a failing write takes it back with its chunk
            file.add_message(channel_id, header.seq, stamp, header.stamp_ns, raw_header, payload)
            if self.split_size and file.pos >= self.split_size:
                self._rotate()
        except OSError as exc:
            self._fail(exc)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.finish()
        self._open_next()

    def flush(self) -> None:
        """Write the chunk in progress now (a recorder killed later loses only what follows)."""
        if self._file is None:
            return
        try:
            self._file.finish_chunk()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        """Close what can be closed (the file position is always the end of a whole record,
        since it moves only after a complete write), then raise `BagError`."""
        file, self._file = self._file, None
        where = file.path if file is not None else self.path
        kept = 0
        if file is not None:
            if file.fd >= 0:
                file.abort(file.pos)
            self.message_count -= sum(len(flat) for flat in file.chunk_index.values()) // 2
            kept = file.message_count
        reason = _REASONS.get(exc.errno or 0, "it could not be written")
        self.error = BagError(
            f"{where}: recording stopped because {reason} ({exc.strerror}); the file was cut "
            f"back to its last complete chunk and closed, and its {kept} messages stay readable"
        )
        raise self.error from exc

    def close(self) -> None:
        """Finish the bag (idempotent)."""
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.finish()
        except OSError as exc:
            self._file = file
            self._fail(exc)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
