"""launch.environment: the base set every program gets, and what env_pass hands one program;
the show's launch file gives each secret to the node that needs it and to no other."""

from __future__ import annotations

from pathlib import Path

from launch.environment import base_environment, passed
from launch.loader import find_launch_file, load

REPO = Path(__file__).resolve().parents[2]

ENVIRON = {
    "PATH": "/usr/bin", "HOME": "/home/me", "LC_ALL": "C.UTF-8", "VT_BUS": "ipc:///x",
    "PULSE_SERVER": "unix:/run/pulse", "XDG_RUNTIME_DIR": "/run/user/1",
    "TWITCH_OAUTH_TOKEN": "oauth:abc", "TWITCH_LOGIN": "bot", "HF_TOKEN": "hf_x",
    "HF_HOME": "/models", "AWS_SECRET_ACCESS_KEY": "k", "VTX": "not ours",
}


class TestBase:
    def test_holds_what_programs_need_and_no_secret(self) -> None:
        assert base_environment(ENVIRON) == {
            "PATH": "/usr/bin", "HOME": "/home/me", "LC_ALL": "C.UTF-8", "VT_BUS": "ipc:///x",
            "PULSE_SERVER": "unix:/run/pulse", "XDG_RUNTIME_DIR": "/run/user/1",
        }


class TestPassed:
    # (env_pass, what the program gets)
    CASES = [
        ([], {}),
        (["TWITCH_OAUTH_TOKEN"], {"TWITCH_OAUTH_TOKEN": "oauth:abc"}),
        (["HF_*"], {"HF_TOKEN": "hf_x", "HF_HOME": "/models"}),
        (["YOUTUBE_API_KEY"], {}),  # unset stays unset, not empty
        (["TWITCH_LOGIN", "HF_H*"], {"TWITCH_LOGIN": "bot", "HF_HOME": "/models"}),
    ]

    def test_names_and_prefixes(self) -> None:
        for patterns, expected in self.CASES:
            assert passed(patterns, ENVIRON) == expected, patterns


class TestStreamLaunchFile:
    CREDENTIALS = {"TWITCH_OAUTH_TOKEN", "TWITCH_LOGIN", "YOUTUBE_API_KEY", "YOUTUBE_OAUTH_TOKEN"}

    def test_chat_credentials_reach_the_chat_node_only(self) -> None:
        for args in ({}, {"llm": "vllm"}):
            launch = load(find_launch_file("stream.launch.toml", cwd=REPO), args)
            given = {p.name: set(passed(p.env_pass, {n: "x" for n in self.CREDENTIALS}))
                     for p in launch.programs}
            assert given.pop("chat") == self.CREDENTIALS
            assert not any(given.values()), given
