"""The vtlaunch command line as a user runs it: refusals before anything starts, printing the
config, making keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _vtlaunch(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launch.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


class TestRefusals:
    def test_bad_file_is_refused_before_anything_starts(self, tmp_path: Path) -> None:
        bus = tmp_path / "bus"
        file = tmp_path / "bad.launch.toml"
        file.write_text('[[node]]\nname = "a"\nmodule = "nodes.demo.talker"\n'
                        '[[node]]\nname = "b"\nmodule = "nodes.demo.nope"\n')
        result = _vtlaunch(str(file), "--bus", f"ipc://{bus}", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr == (
            "vtlaunch: bad.launch.toml:6: [[node]] 'b': module 'nodes.demo.nope' not found\n"
        )
        assert not bus.exists()

    def test_missing_program_on_path(self, tmp_path: Path) -> None:
        file = tmp_path / "p.launch.toml"
        file.write_text('[[process]]\nname = "game"\ncommand = "vt-no-such-server --port 1"\n')
        result = _vtlaunch(str(file), cwd=tmp_path)
        assert result.returncode == 2
        assert "p.launch.toml:1: [[process]] 'game': command 'vt-no-such-server' not found on " \
               "PATH" in result.stderr

    def test_missing_keys(self, tmp_path: Path) -> None:
        file = tmp_path / "k.launch.toml"
        file.write_text('[bus]\ntransport = "tcp"\naddress = "10.1.2.3:7000"\nkeys = "keys"\n')
        result = _vtlaunch(str(file), cwd=tmp_path)
        assert result.returncode == 2
        assert f"CURVE key file {tmp_path}/keys/client.key_secret is missing: make keys with " \
               f"`vtlaunch keys {tmp_path}/keys`" in result.stderr

    def test_unknown_argument(self) -> None:
        result = _vtlaunch("stream.launch.toml", "nope:=1", "--check")
        assert result.returncode == 2
        assert "unknown argument 'nope' for launch/stream.launch.toml (it declares: " \
               "personas_file, chat_sources," in result.stderr

    def test_a_parameter_of_the_wrong_type_is_refused_at_its_line(self) -> None:
        # it used to pass the check, and the director then crash-looped at start
        result = _vtlaunch("stream.launch.toml", "quiet_s:=abc", "--check")
        assert result.returncode == 2
        line = next(n for n, text in enumerate(
            (REPO / "launch/stream.launch.toml").read_text().splitlines(), start=1)
            if text.startswith("params = { personas_file") and "quiet_s" in text)
        assert (f"launch/stream.launch.toml:{line}: node director: parameter 'quiet_s' expects "
                "float, got 'abc'") in result.stderr

    def test_a_parameter_out_of_its_bounds_or_unknown_is_refused(self, tmp_path: Path) -> None:
        file = tmp_path / "d.launch.toml"
        file.write_text('[[node]]\nname = "director"\nmodule = "nodes.director"\n'
                        'params = { quiet_s = -1.0, banter_turn = 3 }\n')
        result = _vtlaunch(str(file), "--check", cwd=tmp_path)
        assert result.returncode == 2
        assert "d.launch.toml:4: node director: parameter 'quiet_s' expects float, got -1.0 " \
               "(Expected `float` > 0.0)" in result.stderr
        file.write_text('[[node]]\nname = "director"\nmodule = "nodes.director"\n'
                        'params = { banter_turn = 3 }\n')
        result = _vtlaunch(str(file), "--check", cwd=tmp_path)
        assert "d.launch.toml:4: node director has no parameter 'banter_turn' (did you mean " \
               "banter_turns?)" in result.stderr


class TestOutputs:
    def test_print_supervisord_for_a_host(self, tmp_path: Path) -> None:
        file = tmp_path / "h.launch.toml"
        file.write_text('[[node]]\nname = "a"\nmodule = "nodes.demo.talker"\nhost = "edge"\n')
        result = _vtlaunch(str(file), "--host", "edge", "--print-supervisord", cwd=tmp_path)
        assert result.returncode == 0
        assert "[program:a]" in result.stdout
        assert "[program:vtbus]" not in result.stdout  # the bus runs on host main

    def test_check(self) -> None:
        result = _vtlaunch("stream.launch.toml", "demo:=true", "mic:=false", "--check")
        assert result.returncode == 0
        # chat, director, llm, tts, speaker, avatar, memory, game, watch and the two demo nodes
        assert ": ok (11 programs, bus ipc://" in result.stdout

    def test_keys(self, tmp_path: Path) -> None:
        first = _vtlaunch("keys", str(tmp_path / "k"))
        assert first.returncode == 0
        assert sorted(Path(line).name for line in first.stdout.split()) == [
            "client.key", "client.key", "client.key_secret", "server.key", "server.key_secret"]
        again = _vtlaunch("keys", str(tmp_path / "k"))
        assert again.returncode == 2
        assert "keys are never overwritten" in again.stderr


class TestHelp:
    def test_a_files_help_lists_its_arguments_with_defaults_and_documentation(self) -> None:
        result = _vtlaunch("stream.launch.toml", "--help")
        assert result.returncode == 0
        out = result.stdout
        assert "arguments of stream.launch.toml" in out
        assert "llm_seed:=-1" in out
        assert "the bundled model says the same words run after run" in " ".join(out.split())
        assert "llm:=llamacpp  (llamacpp, vllm, scripted)" in out
        assert "usage: vtlaunch" in out  # the options stay listed

    def test_help_without_a_file_is_the_plain_help(self) -> None:
        result = _vtlaunch("--help")
        assert result.returncode == 0
        assert "usage: vtlaunch" in result.stdout
        assert "arguments of" not in result.stdout

    def test_help_for_a_bad_file_says_why(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.launch.toml"
        bad.write_text("[args\n")
        result = _vtlaunch(str(bad), "--help", cwd=tmp_path)
        assert result.returncode == 2
        assert "invalid TOML" in result.stderr


class TestMakeStream:
    def test_make_stream_passes_launch_arguments(self) -> None:
        # -o setup: the environment is there already (a test installs nothing); a bad value
        # proves the argument reached vtlaunch, which refuses it before anything starts
        result = subprocess.run(
            ["make", "--no-print-directory", "-o", "setup", "stream",
             "ARGS=llm_seed:=7 llm:=nonsense --check"],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        assert "argument 'llm' is 'nonsense', not one of llamacpp, vllm, scripted" in (
            result.stderr), result.stdout + result.stderr
        seeded = subprocess.run(
            ["make", "--no-print-directory", "-o", "setup", "stream",
             "ARGS=llm_seed:=7 --print-supervisord"],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        assert seeded.returncode == 0, seeded.stderr
        assert '\\"seed\\": 7' in seeded.stdout or '"seed": 7' in seeded.stdout
