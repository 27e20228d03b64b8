"""bus.cli.vtbag in-process: info and convert on the golden bag, errors and exit statuses, and
what a recording keeps about how it was made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus.bag import bag_info, recording_metadata
from bus.cli.output import Output
from bus.cli.vtbag import _print_info, main

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "data" / "golden").glob("*.mcap"))
pytestmark = pytest.mark.skipif(not GOLDEN, reason="no golden bag")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, " ".join(err.split())


class TestInfo:
    def test_json_lists_every_topic_with_type_count_and_rate(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, out, _ = run(capsys, "--json", "info", str(GOLDEN[0]))
        info = json.loads(out)
        assert status == 0
        topics = {t["topic"]: t for t in info["topics"]}
        assert topics["chat/message"]["type"] == "chat.ChatMessage"
        assert topics["chat/message"]["count"] == 4
        assert topics["persona/active"]["latched"] is True
        assert info["messages"] == sum(t["count"] for t in info["topics"])
        assert info["duration_s"] > 0 and info["size_bytes"] == GOLDEN[0].stat().st_size
        assert "git_revision" in info["metadata"]["vtshow"]

    def test_human_output_has_the_summary_and_the_table(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _print_info(bag_info(GOLDEN[0]), Output(json_mode=False))
        text = capsys.readouterr().out
        assert "Duration:" in text and "chat/message" in text and "chat.ChatMessage" in text

    def test_a_damaged_bag_exits_1_and_names_the_file(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        data = GOLDEN[0].read_bytes()
        cut = tmp_path / "cut.mcap"
        cut.write_bytes(data[:-100])  # the summary's end and the footer are gone
        status, out, err = run(capsys, "--json", "info", str(cut))
        assert status == 1
        assert json.loads(out)["messages"] == 44  # every message is still there
        assert f"error: {cut}: truncated at byte {len(data) - 100}" in err


class TestConvert:
    def test_writes_a_json_bag(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        out_path = tmp_path / "golden.json.mcap"
        status, out, _ = run(capsys, "--json", "convert", str(GOLDEN[0]), "--to", "json",
                             "-o", str(out_path))
        assert status == 0 and out_path.exists()
        assert json.loads(out)["messages"] == 44

    def test_refuses_to_overwrite_its_input(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "convert", str(GOLDEN[0]), "--to", "json",
                             "-o", str(GOLDEN[0]))
        assert status == 1
        assert "refusing to overwrite the bag being converted" in err


class TestUsage:
    @pytest.mark.parametrize(("argv", "message"), [
        # -a with explicit topics
        (["record", "-a", "chat/message"], "give either -a or topics/-e, not both"),
        # a bad regular expression
        (["record", "-e", "(", "--bus", "ipc:///tmp/vtbag-none"], "bad topic regular expression"),
        # a bag that does not exist
        (["info", "/nonexistent/x.mcap"], "/nonexistent/x.mcap: no such bag"),
        # a bad remap
        (["play", "x.mcap", "--remap", "nothing"], "remap 'nothing' must look like name:=value"),
    ])
    def test_errors_exit_1_with_a_reason(self, capsys: pytest.CaptureFixture[str],
                                         argv: list[str], message: str) -> None:
        status, _, err = run(capsys, *argv)
        assert status == 1
        assert message in err

    def test_unknown_conversion_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "convert", "x.mcap", "--to", "csv", "-o", "y")
        assert status == 2
        assert "invalid choice: 'csv'" in err


class TestRecordingMetadata:
    def test_launch_file_revision_and_command(self, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
        launch = tmp_path / "stream.launch.toml"
        launch.write_text("[bus]\nurl = 'ipc:///tmp/x'\n")
        monkeypatch.setenv("VT_LAUNCH_FILE", str(launch))
        metadata = recording_metadata(command=["vtbag", "record", "-a"], bus="ipc:///tmp/x")
        assert metadata["launch_file"] == str(launch)
        assert metadata["launch_file_text"] == "[bus]\nurl = 'ipc:///tmp/x'\n"
        assert metadata["command"] == "vtbag record -a"
        assert len(metadata["git_revision"].removesuffix("-dirty")) == 40

    def test_an_unreadable_launch_file_is_said_not_fatal(self, tmp_path: Path) -> None:
        metadata = recording_metadata(launch_file=tmp_path / "missing.toml", command=[])
        assert metadata["launch_file_text"] == "(unreadable: No such file or directory)"
