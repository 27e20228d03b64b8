"""launch.supervisor: the config supervisord reads back is the launch file's show, holds no
path of this machine, and the committed supervisord.conf matches launch/stream.launch.toml."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from launch.loader import LaunchFileError, find_launch_file, load
from launch.supervisor import render

REPO = Path(__file__).resolve().parents[2]

TRICKY = """
    [args]
    greeting = "it's 100% \\"fine\\", ok"

    [bus]
    host = "hub"

    [[node]]
    name = "a"
    module = "nodes.demo.talker"
    params = { text = "$(arg greeting)", rate_hz = 0.5 }
    env = { PLAIN = "x,y=z", PERCENT = "50%" }
    remaps = { "demo/count" = "demo/a" }
    start_secs = 7
    start_retries = 4

    [[process]]
    name = "sidecar"
    command = ["sleep", "it's 100%"]
    respawn = false
    stop_signal = "INT"
    stop_timeout_s = 2
    host = "edge"
    cwd = "/srv/sidecar"
    """


def _parse(text: str, run: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Read a config with supervisord's own parser: program name -> its ProcessConfig."""
    (run / "logs").mkdir(exist_ok=True)
    conf = run / "sv.conf"
    conf.write_text(text)
    monkeypatch.setenv("VT_RUN_DIR", str(run))
    monkeypatch.setenv("VT_PYTHON", "/opt/py/bin/python")
    options = ServerOptions()
    options.realize(args=["-c", str(conf)])
    return {pc.name: pc for group in options.process_group_configs
            for pc in group.process_configs}


@pytest.fixture
def tricky(tmp_path: Path) -> Any:
    path = tmp_path / "tricky.launch.toml"
    path.write_text(textwrap.dedent(TRICKY))
    return load(path)


class TestRender:
    def test_supervisord_reads_back_every_setting(
        self, tricky: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        programs = _parse(render(tricky, None), tmp_path, monkeypatch)
        assert set(programs) == {"vtbus", "a", "sidecar"}
        a, sidecar, vtbus = programs["a"], programs["sidecar"], programs["vtbus"]
        assert shlex.split(a.command) == ["setpriv", "--pdeathsig", "TERM", "/opt/py/bin/python",
                                          "-m", "nodes.demo.talker"]
        assert json.loads(a.environment["VT_PARAMS"]) == {
            "text": 'it\'s 100% "fine", ok', "rate_hz": 0.5}
        assert json.loads(a.environment["VT_REMAPS"]) == {"demo/count": "demo/a"}
        assert a.environment["PLAIN"] == "x,y=z"
        assert a.environment["PERCENT"] == "50%"
        assert (a.startsecs, a.startretries, a.autorestart) == (7, 4, RestartUnconditionally)
        assert a.stopasgroup and a.killasgroup
        assert a.stdout_logfile == str(tmp_path / "logs" / "a.log")
        assert shlex.split(sidecar.command)[3:] == ["sleep", "it's 100%"]
        assert sidecar.autorestart is False
        assert (sidecar.stopsignal, sidecar.stopwaitsecs) == (2, 2)  # SIGINT, seconds
        assert sidecar.directory == "/srv/sidecar"
        assert vtbus.priority < a.priority

    def test_a_host_share_holds_its_programs_only(
        self, tricky: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert set(_parse(render(tricky, "hub"), tmp_path, monkeypatch)) == {"vtbus", "a"}
        assert set(_parse(render(tricky, "edge"), tmp_path, monkeypatch)) == {"sidecar"}

    def test_no_path_of_this_machine(self, tricky: Any) -> None:
        text = render(tricky, None)
        for local in (str(Path.cwd()), sys.executable, str(REPO), "/tmp"):
            assert local not in text

    def test_value_with_both_quotes_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "q.launch.toml"
        path.write_text('[[node]]\nname = "a"\nmodule = "nodes.demo.talker"\n'
                        "env = { X = '''both ' and \" '''}\n")
        with pytest.raises(LaunchFileError, match=r"q\.launch\.toml:1: environment value of X "
                                                  r"cannot be passed to supervisord"):
            render(load(path), None)


class TestCommittedConfig:
    def test_supervisord_conf_matches_stream_launch_file(self) -> None:
        expected = render(load(find_launch_file("stream.launch.toml", cwd=REPO)), None)
        committed = (REPO / "supervisord.conf").read_text()
        assert committed == expected, (
            "supervisord.conf is stale: regenerate it with "
            "`vtlaunch stream.launch.toml --print-supervisord > supervisord.conf`"
        )
