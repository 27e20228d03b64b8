"""launch.logs: lines behind coloured names, log files followed across rotation."""

from __future__ import annotations

import io
from pathlib import Path

from launch.logs import LogTail, Prefixer


class TestPrefixer:
    def test_plain_names_aligned(self) -> None:
        out = io.StringIO()
        prefixer = Prefixer(["vtbus", "listener"], colour=False, out=out)
        prefixer.line("vtbus", "serving")
        prefixer.line("listener", "joined")
        assert out.getvalue() == "vtbus    | serving\nlistener | joined\n"

    def test_colour_is_stable_per_name(self) -> None:
        out = io.StringIO()
        prefixer = Prefixer(["a", "b"], colour=True, out=out)
        for name in ("a", "b", "a"):
            prefixer.line(name, "x")
        first, _, third = out.getvalue().splitlines()
        assert first.startswith("\x1b[") and first.endswith("\x1b[0m | x")
        assert first == third


class TestLogTail:
    def test_follows_new_lines_partial_lines_and_rotation(self, tmp_path: Path) -> None:
        out = io.StringIO()
        log = tmp_path / "talker.log"
        tail = LogTail({"talker": log, "late": tmp_path / "late.log"},
                       Prefixer(["talker"], colour=False, out=out), hide=("noise",))
        assert tail.pump() == []  # nothing written yet
        log.write_text("one\ntw")
        assert tail.pump() == [("talker", "one")]
        with log.open("a") as f:
            f.write("o\nnoise here\n")
        assert tail.pump() == [("talker", "two"), ("talker", "noise here")]
        log.rename(tmp_path / "talker.log.1")  # supervisord rotates
        log.write_text("three\nfour")
        assert tail.pump(final=True) == [("talker", "three"), ("talker", "four")]
        tail.close()
        assert out.getvalue() == "talker | one\ntalker | two\ntalker | three\ntalker | four\n"
