"""launch.logs: lines behind coloured names, log files followed across rotation."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fakes.hostile import HOSTILE

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


    def test_a_programs_line_cannot_drive_the_terminal(self) -> None:
        out = io.StringIO()
        prefixer = Prefixer(["chat"], colour=True, out=out)
        prefixer.line("chat", HOSTILE + " [red]not markup[/red] \x9b2J")
        (line,) = out.getvalue().splitlines()
        label, text = line.split(" | ", 1)
        assert label.startswith("\x1b[") and label.endswith("\x1b[0m")  # our colour only
        assert text == ("\\x1b[31mmika\\x1b[0m\\r\\n12:00:00 INFO director: FAKE LOG "
                        "LINE\\x1b[2J [red]not markup[/red] \\x9b2J")


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

    def test_a_lone_carriage_return_is_shown_not_obeyed(self, tmp_path: Path) -> None:
        out = io.StringIO()
        log = tmp_path / "chat.log"
        tail = LogTail({"chat": log}, Prefixer(["chat"], colour=False, out=out))
        log.write_bytes(b"fake 10%\rreal 99%\x1b[2J\r\n")  # a CRLF ending is a line ending
        assert tail.pump() == [("chat", "fake 10%\rreal 99%\x1b[2J")]
        tail.close()
        assert out.getvalue() == "chat | fake 10%\\rreal 99%\\x1b[2J\n"


INFO = "2026-01-05 12:00:00,123 INFO tts: piper voice loaded"
WARNING = "2026-01-05 12:00:00,456 WARNING mic: no microphone: going on without"


class TestFolding:
    """At a terminal, start-up lines fold into one progress line; warnings stay printed."""

    def test_routine_lines_fold_into_one_line_warnings_print_above_it(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COLUMNS", "200")
        out = io.StringIO()
        prefixer = Prefixer(["tts", "mic"], colour=False, out=out, fold=True)
        prefixer.set_progress("starting: 1 of 2 nodes on the bus")
        prefixer.line("tts", INFO)
        prefixer.line("mic", WARNING)
        prefixer.line("tts", INFO.replace("piper voice loaded", "ready"))
        prefixer.stop_folding()
        prefixer.line("tts", INFO.replace("piper voice loaded", "after"))
        text = out.getvalue()
        assert "\n" + "tts | " + INFO not in text  # folded, never a line of its own
        # the warning is a line of its own, the progress line redrawn below it
        assert f"\r\x1b[Kmic | {WARNING}\n\r\x1b[Kstarting: 1 of 2" in text
        assert text.endswith(f"\r\x1b[Ktts | {INFO.replace('piper voice loaded', 'after')}\n")
        shown = text.split("\r\x1b[K")  # what the terminal keeps of each rewrite
        assert "starting: 1 of 2 nodes on the bus | tts | tts: ready" in shown

    def test_the_progress_line_fits_the_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COLUMNS", "40")
        out = io.StringIO()
        prefixer = Prefixer(["tts"], colour=False, out=out, fold=True)
        prefixer.set_progress("starting: 0 of 1 nodes on the bus")
        prefixer.line("tts", INFO)
        assert all(len(part) <= 39 for part in out.getvalue().split("\r\x1b[K"))

    def test_not_folding_prints_every_line(self) -> None:
        out = io.StringIO()
        prefixer = Prefixer(["tts"], colour=False, out=out)
        prefixer.set_progress("starting: 0 of 1 nodes on the bus")
        prefixer.line("tts", INFO)
        assert out.getvalue() == f"tts | {INFO}\n"

    def test_folded_text_is_escaped(self) -> None:
        out = io.StringIO()
        prefixer = Prefixer(["chat"], colour=False, out=out, fold=True)
        prefixer.line("chat", "2026-01-05 12:00:00,123 INFO chat: " + HOSTILE)
        assert "\x1b[31m" not in out.getvalue() and "\\x1b[31m" in out.getvalue()


def test_a_personas_line_from_the_bus_cannot_drive_the_terminal() -> None:
    # persona names and sentences come from the bus (a viewer's name read out, a forged
    # playhead): both are escaped, the name's colour is the only escape sequence
    out = io.StringIO()
    prefixer = Prefixer(["tts"], colour=True, out=out)
    prefixer.line("mika\x1b[2J", HOSTILE)
    (line,) = out.getvalue().splitlines()
    label, text = line.split(" | ", 1)
    assert "mika\\x1b[2J" in label and label.count("\x1b[") == 2  # colour on, colour off
    assert "\x1b" not in text and "\r" not in text
