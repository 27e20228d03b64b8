"""The write-ahead journal: round trips, torn tails after a crash, atomic rewrites, receipts
that survive a SIGKILL without an fsync, appends from several threads."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bus.errors import VtError
from nodes.memory.journal import MAGIC, Forget, Journal, JournalError, Received, Remember
from nodes.memory.records import MemoryRecord


def remember(i: int, viewer: str = "twitch:1") -> Remember:
    return Remember(MemoryRecord(id=f"m{i}", text=f"line {i}", kind="chat", viewer=viewer),
                    bytes(16))


class TestAppendAndRead:
    def test_round_trip_survives_reopening(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")
        journal.append([remember(0), remember(1)])
        journal.append([Forget("twitch:1"), remember(2)])
        journal.close()
        reopened = Journal(tmp_path / "j.bin")
        entries = [entry for _, entry in reopened.read()]
        assert entries == [remember(0), remember(1), Forget("twitch:1"), remember(2)]
        assert reopened.entries == 4

    def test_read_from_an_offset(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")
        journal.append([remember(0)])
        middle = journal.size
        journal.append([remember(1)])
        assert [entry for _, entry in journal.read(middle)] == [remember(1)]

    def test_applied_offset_persists_and_is_capped(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")
        assert journal.applied() == 0
        size = journal.append([remember(0)])
        journal.mark_applied(size)
        assert Journal(tmp_path / "j.bin").applied() == size
        journal.mark_applied(size + 1000)  # beyond the end (a journal cut short): capped
        assert Journal(tmp_path / "j.bin").applied() == size


class TestTornTail:
    # (what a crash left after the last complete record, why it is refused)
    @pytest.mark.parametrize("tail", [
        b"\x05\x00",  # a record header cut short
        b"\x40\x00\x00\x00\x00\x00\x00\x00abc",  # a record shorter than its length
        b"\x03\x00\x00\x00\x01\x02\x03\x04abc",  # a wrong checksum
    ])
    def test_cut_off_and_kept_aside(self, tmp_path: Path, tail: bytes) -> None:
        path = tmp_path / "j.bin"
        journal = Journal(path)
        good = journal.append([remember(0), remember(1)])
        journal.close()
        with open(path, "ab") as f:
            f.write(tail)
        reopened = Journal(path)
        assert reopened.entries == 2
        assert path.stat().st_size == good
        damaged = list(tmp_path.glob("j.bin.damaged-*"))
        assert [d.read_bytes() for d in damaged] == [tail]
        reopened.append([remember(2)])  # appends go after the last good record
        assert [e.record.id for _, e in Journal(path).read()
                if isinstance(e, Remember)] == ["m0", "m1", "m2"]

    def test_not_a_journal_is_refused_with_its_path(self, tmp_path: Path) -> None:
        path = tmp_path / "j.bin"
        path.write_bytes(b"something else entirely")
        with pytest.raises(JournalError, match=r"j\.bin is not a memory journal") as info:
            Journal(path)
        # in the error tree (a bad start is one fatal line), and still a file error
        assert isinstance(info.value, VtError) and isinstance(info.value, OSError)


class TestRewrite:
    def test_keeps_only_chosen_entries_atomically(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")
        journal.append([remember(0, "twitch:1"), remember(1, "twitch:2"), Forget("twitch:1")])
        dropped = journal.rewrite(
            lambda _, e: isinstance(e, Remember) and e.record.viewer != "twitch:1")
        assert dropped == 2
        assert [e for _, e in journal.read()] == [remember(1, "twitch:2")]
        assert not list(tmp_path.glob("*.rewrite"))
        journal.append([remember(3)])
        assert Journal(tmp_path / "j.bin").entries == 2
        assert (tmp_path / "j.bin").read_bytes().startswith(MAGIC)
        assert b"line 0" not in (tmp_path / "j.bin").read_bytes()


class TestFailedAppend:
    def test_partial_write_is_rolled_back(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")
        good = journal.append([remember(0)])

        class FullDisk:
            """A file whose write lands half the bytes, then fails like a full disk."""

            def __init__(self, real: object) -> None:
                self.real = real

            def write(self, data: bytes) -> int:
                self.real.write(data[: len(data) // 2])  # type: ignore[attr-defined]
                self.real.flush()  # type: ignore[attr-defined]
                raise OSError(28, "No space left on device")

            def close(self) -> None:
                self.real.close()  # type: ignore[attr-defined]

        journal._file = FullDisk(journal._file)  # type: ignore[assignment]
        with pytest.raises(OSError, match="No space left"):
            journal.append([remember(1)])
        assert (tmp_path / "j.bin").stat().st_size == good
        journal.append([remember(2)])
        assert [e.record.id for _, e in Journal(tmp_path / "j.bin").read()
                if isinstance(e, Remember)] == ["m0", "m2"]


class TestReceived:
    def test_received_round_trip(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")
        line = MemoryRecord(id="m0", text="alice: hi", kind="chat", viewer="twitch:1")
        journal.append([Received(line)], sync=False)
        journal.append([remember(0)])
        assert [e for _, e in Journal(tmp_path / "j.bin").read()] == [Received(line), remember(0)]

    def test_unsynced_append_survives_a_sigkill(self, tmp_path: Path) -> None:
        # a child appends without fsync and is killed at once: the OS has the bytes
        script = (
            "import os, signal, sys\n"
            "from pathlib import Path\n"
            "from nodes.memory.journal import Journal, Received\n"
            "from nodes.memory.records import MemoryRecord\n"
            "journal = Journal(Path(sys.argv[1]))\n"
            "journal.append([Received(MemoryRecord(id=f'm{i}', text='x', kind='chat'))\n"
            "                for i in range(100)], sync=False)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        child = subprocess.run([sys.executable, "-c", script, str(tmp_path / "j.bin")],
                               cwd=Path(__file__).resolve().parents[2], timeout=60)
        assert child.returncode == -signal.SIGKILL
        reopened = Journal(tmp_path / "j.bin")
        assert [e.record.id for _, e in reopened.read() if isinstance(e, Received)] == [
            f"m{i}" for i in range(100)]

    def test_sync_only_when_something_is_unsynced(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")
        assert journal.sync() is False
        journal.append([remember(0)], sync=False)
        assert journal.sync() is True
        assert journal.sync() is False
        journal.append([remember(1)])  # synced by the append itself
        assert journal.sync() is False

    def test_appends_from_threads_interleave_whole(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path / "j.bin")

        def append_many(thread: int) -> None:
            for i in range(200):
                journal.append([remember(thread * 1000 + i)], sync=i % 50 == 0)
                if i % 30 == 0:
                    journal.sync()

        threads = [threading.Thread(target=append_many, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        journal.close()
        reopened = Journal(tmp_path / "j.bin")  # a torn or interleaved record would be cut off
        assert reopened.entries == 800
        assert sorted(e.record.id for _, e in reopened.read()  # type: ignore[union-attr]
                      ) == sorted(f"m{t * 1000 + i}" for t in range(4) for i in range(200))
        assert not list(tmp_path.glob("*.damaged-*"))
