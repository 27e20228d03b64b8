"""The write-ahead journal: what the node received, then each memory with its embedding.

Two entries per memory. `Received` is written the moment a line arrives, before it waits for
embedding: written with one ``write`` to the file (no fsync), so from then on the operating
system holds it and a SIGKILL of the node cannot lose it; the fsync that also covers a power
loss follows within the node's sync interval (see `Journal.sync`). `Remember` is written once
the line is embedded, with the vector, and fsync'ed: from then on the memory is acknowledged.
On start, a `Received` with no `Remember` is embedded again, and the `Remember` entries after
the last applied offset are replayed into the store (by stable id, so replaying twice is
harmless). The journal is also the recovery source: a corrupt or missing store is rebuilt
from it.

File layout: the magic line ``VTMEMJ1\\n``, then records ``<u32 length><u32 crc32><payload>``
(little endian), the payload a msgpack `Entry`. A record cut short by a crash (the length or
the checksum does not match) ends the journal: the bytes from there are moved to a
``.damaged-<stamp>`` file beside it (never silently destroyed) and the journal is truncated.

Forgetting rewrites the journal without the viewer's entries (temporary file, fsync, rename,
fsync of the folder), so a forgotten viewer cannot come back through a rebuild.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import msgspec

from bus.errors import VtError
from bus.files import replace_durably, sync_folder
from nodes.memory.records import MemoryRecord

__all__ = ["Entry", "Forget", "Journal", "JournalError", "Received", "Remember"]

MAGIC = b"VTMEMJ1\n"
_FRAME = struct.Struct("<II")
_MAX_RECORD = 64 * 1024 * 1024

log = logging.getLogger(__name__)


class Received(msgspec.Struct, tag="received", frozen=True):
    """``record`` arrived and waits to be embedded (its `Remember` follows once it is)."""

    record: MemoryRecord


class Remember(msgspec.Struct, tag="remember", frozen=True):
    """Keep ``record``; ``embedding`` is its float32 vector as bytes (no re-embedding on replay)."""

    record: MemoryRecord
    embedding: bytes


class Forget(msgspec.Struct, tag="forget", frozen=True):
    """Remove every memory of ``viewer`` (``platform:user_id``) written before this entry."""

    viewer: str


Entry = Received | Remember | Forget

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


class JournalError(VtError, OSError):
    """The journal file cannot be used (not a journal, unreadable); the message says what to do.

    Also an `OSError`, as it was before it joined the error tree: a caller that catches
    file errors around opening the store still catches it."""


class Journal:
    """An append-only, checksummed log of `Entry` records at ``path``.

    Opening scans the whole file, sets `size` to the end of the last complete record and cuts
    a torn tail off (see the module docstring). ``applied`` (persisted beside the journal, in
    ``<path>.applied``) is the offset up to which the store is known to hold every entry.
    Appends, syncs and rewrites may come from several threads (receipt on the event loop,
    memories from the writer thread); the fsync runs outside the lock, so an append never
    waits for another thread's fsync.
    """

    def __init__(self, path: Path):
        self.path = path
        self.applied_path = path.with_name(path.name + ".applied")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            self._create(path)
        self.entries, self.size = self._scan()
        self._file = open(path, "ab")  # noqa: SIM115 - held open for appends until close()
        self._lock = threading.Lock()
        self._unsynced = False

    # ------------------------------------------------------------------ reading

    def read(self, start: int = 0) -> Iterator[tuple[int, Entry]]:
        """Each entry from byte ``start`` on, with the offset just after it."""
        end = self.size  # entries appended while reading are left for the next read
        with open(self.path, "rb") as f:
            f.seek(max(start, len(MAGIC)))
            offset = f.tell()
            while offset < end:
                frame = f.read(_FRAME.size)
                length, _ = _FRAME.unpack(frame)
                payload = f.read(length)
                offset += _FRAME.size + length
                yield offset, _decoder.decode(payload)

    def _scan(self) -> tuple[int, int]:
        """Count complete records and find where they end; cut off whatever follows."""
        with open(self.path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                raise JournalError(
                    f"{self.path} is not a memory journal (wrong first bytes); move it away, "
                    "or restore it from a backup"
                )
            entries, good = 0, len(MAGIC)
            while True:
                frame = f.read(_FRAME.size)
                if not frame:
                    break
                reason = ""
                if len(frame) < _FRAME.size:
                    reason = "a record header cut short"
                else:
                    length, crc = _FRAME.unpack(frame)
                    payload = f.read(length) if length <= _MAX_RECORD else b""
                    if length > _MAX_RECORD or len(payload) < length:
                        reason = "a record cut short"
                    elif zlib.crc32(payload) != crc:
                        reason = "a record with a wrong checksum"
                if reason:
                    self._cut_tail(good, reason)
                    break
                entries += 1
                good = f.tell()
        return entries, good

    def _cut_tail(self, good: int, reason: str) -> None:
        with open(self.path, "rb") as f:
            f.seek(good)
            tail = f.read()
        damaged = self.path.with_name(f"{self.path.name}.damaged-{time.time_ns()}")
        damaged.write_bytes(tail)
        with open(self.path, "r+b") as f:
            f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
        log.warning("journal %s ended in %s (a write interrupted by a crash): %d bytes moved "
                    "to %s; every acknowledged memory is before them", self.path, reason,
                    len(tail), damaged)

    # ------------------------------------------------------------------ writing

    def append(self, entries: Sequence[Entry], *, sync: bool = True) -> int:
        """Write ``entries``; returns the new size.

        When this returns the entries survive the node's death (they are in the operating
        system's hands); with ``sync`` they are fsync'ed too and survive a power loss, else
        `sync` does that later.
        """
        chunks = []
        for entry in entries:
            payload = _encoder.encode(entry)
            chunks.append(_FRAME.pack(len(payload), zlib.crc32(payload)))
            chunks.append(payload)
        with self._lock:
            try:
                self._file.write(b"".join(chunks))
                self._file.flush()
            except OSError:
                # (disk full...) drop the partial write, so later appends follow a good record
                self._file.close()
                os.truncate(self.path, self.size)
                self._file = open(self.path, "ab")  # noqa: SIM115
                raise
            self.entries += len(entries)
            self.size = self._file.tell()
            size = self.size
            self._unsynced = True
        if sync:
            self.sync()
        return size

    def sync(self) -> bool:
        """fsync what was appended without it; False when there was nothing to sync."""
        with self._lock:
            if not self._unsynced:
                return False
            self._unsynced = False
            fd = os.dup(self._file.fileno())  # stays valid if a rewrite replaces the file
        try:
            os.fsync(fd)
        except OSError:
            with self._lock:
                self._unsynced = True
            raise
        finally:
            os.close(fd)
        return True

    def rewrite(self, keep: Callable[[int, Entry], bool]) -> int:
        """Replace the journal by the entries for which ``keep(offset, entry)`` is true.

        Atomic: a crash leaves either the old or the new journal. Returns how many were dropped.
        """
        with self._lock:
            return self._rewrite(keep)

    def _rewrite(self, keep: Callable[[int, Entry], bool]) -> int:
        tmp = self.path.with_name(self.path.name + ".rewrite")
        kept = 0
        with open(tmp, "wb") as out:
            out.write(MAGIC)
            for offset, entry in self.read():
                if keep(offset, entry):
                    payload = _encoder.encode(entry)
                    out.write(_FRAME.pack(len(payload), zlib.crc32(payload)))
                    out.write(payload)
                    kept += 1
            out.flush()
            os.fsync(out.fileno())
        self._file.close()
        os.replace(tmp, self.path)
        sync_folder(self.path.parent)
        dropped = self.entries - kept
        self._file = open(self.path, "ab")  # noqa: SIM115
        self.entries, self.size = kept, self._file.tell()
        self._unsynced = False
        return dropped

    # ------------------------------------------------------------------ applied offset

    def applied(self) -> int:
        """Offset up to which the store holds every entry (0: replay everything)."""
        try:
            return min(int(self.applied_path.read_text()), self.size)
        except (FileNotFoundError, ValueError):
            return 0

    def mark_applied(self, offset: int) -> None:
        """Remember that the store holds everything before ``offset``.

        Not fsync'ed: losing it only means replaying more (idempotently) after a crash.
        """
        tmp = self.applied_path.with_name(self.applied_path.name + ".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self.applied_path)

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            if self._unsynced:
                os.fsync(self._file.fileno())
            self._file.close()

    @staticmethod
    def _create(path: Path) -> None:
        replace_durably(path, MAGIC, path.with_name(path.name + ".new"))
