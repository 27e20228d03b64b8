"""vtlaunch hands each program only the environment its launch entry names: a secret in
vtlaunch's environment reaches the one program that asks for it, and no other process of the
show (supervisord and vtbus included)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bus.testing import wait_until
from launch.control import find_shows
from launch.testing import LaunchProcess

pytestmark = pytest.mark.slow

SECRET = "FAKE_TWITCH_OAUTH_TOKEN"
VALUE = "oauth:s3cr3t-do-not-leak"


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (entry.partition(b"=") for entry in raw.split(b"\0") if entry)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


async def test_only_the_program_that_names_a_secret_holds_it(tmp_path: Path) -> None:
    file = tmp_path / "env.launch.toml"
    file.write_text(textwrap.dedent(f"""
        [[node]]
        name = "chat"
        module = "nodes.demo.talker"
        env_pass = ["{SECRET}", "FAKE_HF_*"]

        [[node]]
        name = "tts"
        module = "nodes.demo.listener"

        [[process]]
        name = "sidecar"
        command = ["sleep", "600"]
    """))
    env = {SECRET: VALUE, "FAKE_HF_HOME": "/models", "UNRELATED_API_KEY": "k3y"}
    with LaunchProcess(file, env=env) as launch:
        launch.wait_output("every node on the bus")
        (show,) = find_shows(launch.bus_url)
        await wait_until(lambda: all(s.pid for s in show.programs()), 30,
                         what="every program running")
        programs = {s.name: s.pid for s in show.programs()}
        assert set(programs) == {"vtbus", "chat", "tts", "sidecar"}
        everyone = {**programs, "supervisord": show.pid()}
        environs = {name: _environ(pid) for name, pid in everyone.items()}
        holders = {name for name, environ in environs.items()
                   if SECRET in environ or VALUE in "\0".join(environ.values())}
        assert holders == {"chat"}
        assert environs["chat"][SECRET] == VALUE
        assert environs["chat"]["FAKE_HF_HOME"] == "/models"  # a prefix pattern
        for name, environ in environs.items():
            assert "UNRELATED_API_KEY" not in environ, name
            assert environ.get("PATH") and environ.get("HOME"), name  # the base set
            if name not in ("chat", "supervisord"):
                assert "FAKE_HF_HOME" not in environ, name
        assert environs["tts"]["VT_BUS"] == launch.bus_url
        # a program restarted by supervisord keeps what it was given
        show.restart("chat")
        assert _environ(show.status("chat").pid)[SECRET] == VALUE
        assert launch.interrupt() == 0
