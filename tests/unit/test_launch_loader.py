"""launch.loader: arguments, substitutions, conditions, includes, and a clear error for every
kind of bad file (file, line and reason)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from launch.loader import LaunchFileError, find_launch_file, load, parse_cli_args


def _write(folder: Path, text: str, name: str = "show.launch.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _params(launch, name: str) -> dict:  # type: ignore[no-untyped-def]
    (program,) = [p for p in launch.programs if p.name == name]
    return json.loads(program.env["VT_PARAMS"])


GRAPH = """
    [launch]
    name = "graph"

    [args]
    rate = 0.05
    backend = { default = "small", choices = ["small", "big"], description = "which" }
    with_b = true

    [[node]]
    name = "a"
    module = "nodes.demo.talker"
    params = { rate_hz = "$(arg rate)", text = "a-$(arg backend)" }

    [[node]]
    name = "b"
    module = "nodes.demo.talker"
    if = "$(arg with_b)"
    remaps = { "demo/count" = "demo/count_$(arg backend)" }

    [[node]]
    name = "big_only"
    module = "nodes.demo.listener"
    if = "$(arg backend) == big"
    gpu = true

    [[node]]
    name = "not_big"
    module = "nodes.demo.listener"
    unless = "$(arg backend) == big"
    host = "edge"
    """


class TestArguments:
    def test_defaults_typed_and_substituted(self, tmp_path: Path) -> None:
        launch = load(_write(tmp_path, GRAPH))
        assert [p.name for p in launch.programs] == ["a", "b", "not_big"]
        assert _params(launch, "a") == {"rate_hz": 0.05, "text": "a-small"}
        assert launch.args == {"rate": "0.05", "backend": "small", "with_b": "true"}

    def test_command_line_overrides(self, tmp_path: Path) -> None:
        launch = load(_write(tmp_path, GRAPH), {"rate": "0.2", "backend": "big",
                                                "with_b": "false"})
        assert [p.name for p in launch.programs] == ["a", "big_only"]
        assert _params(launch, "a") == {"rate_hz": 0.2, "text": "a-big"}

    def test_remaps_and_node_environment(self, tmp_path: Path) -> None:
        launch = load(_write(tmp_path, GRAPH))
        b = next(p for p in launch.programs if p.name == "b")
        assert json.loads(b.env["VT_REMAPS"]) == {"demo/count": "demo/count_small"}
        assert b.env["VT_NODE_NAME"] == "b"
        assert b.env["CUDA_VISIBLE_DEVICES"] == ""  # gpu = false hides the GPUs

    def test_hosts_default_to_the_bus_host(self, tmp_path: Path) -> None:
        launch = load(_write(tmp_path, GRAPH))
        assert launch.hosts == ["main", "edge"]
        assert [p.name for p in launch.share("edge")] == ["not_big"]
        assert [p.name for p in launch.share("main")] == ["a", "b"]
        assert launch.runs_bus("main") and not launch.runs_bus("edge")

    def test_hang_timeouts_default_to_the_bus(self, tmp_path: Path) -> None:
        text = (NODE + "hang_timeout_s = 0.0\n" + NODE.replace('"a"', '"b"')
                + '[[process]]\nname = "p"\ncommand = "true"\n')
        launch = load(_write(tmp_path, text))
        assert {p.name: p.hang_timeout_s for p in launch.programs} == {"a": 0.0, "b": 10.0,
                                                                       "p": 0.0}
        launch = load(_write(tmp_path, "[bus]\nhang_timeout_s = 30.0\n" + text))
        assert {p.name: p.hang_timeout_s for p in launch.programs}["b"] == 30.0

    def test_parse_cli_args(self) -> None:
        assert parse_cli_args(["a:=1", "b:=x:=y", "c:="]) == {"a": "1", "b": "x:=y", "c": ""}


class TestSubstitutions:
    def test_env_dirname_and_apostrophes(self, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VT_TEST_GREETING", "it's me")
        launch = load(_write(tmp_path, """
            [[node]]
            name = "a"
            module = "nodes.demo.talker"
            params = { text = "$(env VT_TEST_GREETING)" }
            env = { HERE = "$(dirname)" }
            [[node]]
            name = "b"
            module = "nodes.demo.talker"
            params = { text = "$(env VT_TEST_NOPE x y)" }
            """))
        a, b = launch.programs
        assert "'" not in a.env["VT_PARAMS"]  # escaped, for supervisord's quoting
        assert json.loads(a.env["VT_PARAMS"]) == {"text": "it's me"}
        assert json.loads(b.env["VT_PARAMS"]) == {"text": "x y"}
        assert a.env["HERE"] == str(tmp_path)

    def test_process_command_string_and_list(self, tmp_path: Path) -> None:
        launch = load(_write(tmp_path, """
            [args]
            port = 25565
            [[process]]
            name = "one"
            command = "sleep '$(arg port)'"
            [[process]]
            name = "two"
            command = ["echo", "a b", "$(arg port)"]
            respawn = false
            stop_signal = "INT"
            """))
        one, two = launch.programs
        assert one.command == ["sleep", "25565"]
        assert two.command == ["echo", "a b", "25565"]
        assert (two.respawn, two.stop_signal, two.kind) == (False, "INT", "process")


class TestIncludes:
    def test_include_with_args_and_condition(self, tmp_path: Path) -> None:
        (tmp_path / "parts").mkdir()
        _write(tmp_path / "parts", """
            [args]
            who = "x"
            [bus]
            transport = "tcp"          # ignored: the top file owns the bus
            address = "127.0.0.1:1"
            [[node]]
            name = "inc_$(arg who)"
            module = "nodes.demo.talker"
            """, "part.launch.toml")
        top = _write(tmp_path, """
            [args]
            extra = false
            [[include]]
            file = "parts/part.launch.toml"
            args = { who = "first" }
            [[include]]
            file = "parts/part.launch.toml"
            args = { who = "second" }
            if = "$(arg extra)"
            [[node]]
            name = "top"
            module = "nodes.demo.listener"
            """)
        assert [p.name for p in load(top).programs] == ["inc_first", "top"]
        both = load(top, {"extra": "true"})
        assert [p.name for p in both.programs] == ["inc_first", "inc_second", "top"]
        assert both.bus.url is None

    def test_find_launch_file_looks_in_launch_folder(self, tmp_path: Path) -> None:
        (tmp_path / "launch").mkdir()
        path = _write(tmp_path / "launch", "", "x.launch.toml")
        assert find_launch_file("x.launch.toml", cwd=tmp_path) == path


NODE = '[[node]]\nname = "a"\nmodule = "nodes.demo.talker"\n'

# (what is wrong, file text, command-line args, the error: file:line: reason as a regex)
BAD_FILES = [
    ("not TOML", 'x = 1\ny = = 2\n', {},
     r"show\.launch\.toml:2: invalid TOML: .*line 2"),
    ("unknown top-level table", "[nodes]\nx = 1\n", {},
     r":1: Object contains unknown field `nodes`"),
    ("typo in a field", NODE + 'modle = "x"\n', {},
     r":4: Object contains unknown field `modle` - at `\$\.node\[0\]`"),
    ("[node] instead of [[node]]", '[node]\nname = "a"\n', {},
     r":1: Expected `array`, got `object` - at `\$\.node`"),
    ("missing module", '[[node]]\nname = "a"\n\n[[node]]\nname = "b"\n', {},
     r":1: Object missing required field `module` - at `\$\.node\[0\]`"),
    ("wrong type in the second node", NODE + '[[node]]\nname = "b"\nmodule = 3\n', {},
     r":6: Expected `str`, got `int` - at `\$\.node\[1\]\.module`"),
    ("params not a table", NODE + "params = 3\n", {},
     r":4: Expected `object`, got `int` - at `\$\.node\[0\]\.params`"),
    ("bad stop signal", '[[process]]\nname = "p"\ncommand = "true"\nstop_signal = "STOP"\n', {},
     r":4: Invalid enum value 'STOP' - at `\$\.process\[0\]\.stop_signal`"),
    ("unknown module", '[[node]]\nname = "a"\nmodule = "nodes.nope"\n', {},
     r":3: \[\[node\]\] 'a': module 'nodes\.nope' not found"),
    ("package without __main__", '[[node]]\nname = "a"\nmodule = "nodes.demo"\n', {},
     r":3: \[\[node\]\] 'a': module 'nodes\.demo' is a package without __main__\.py"),
    ("duplicate name", NODE + NODE, {},
     r":4: name 'a' is used twice \(first at .*show\.launch\.toml:1\)"),
    ("reserved name", '[[node]]\nname = "vtbus"\nmodule = "nodes.demo.talker"\n', {},
     r":2: name 'vtbus' must be a letter then"),
    ("name with a colon", '[[node]]\nname = "a:b"\nmodule = "nodes.demo.talker"\n', {},
     r":2: name 'a:b' must be a letter then"),
    ("undeclared $(arg)", NODE + 'params = { x = "$(arg nope)" }\n', {},
     r":4: \$\(arg nope\): no such argument \(declared: none\)"),
    ("unknown substitution", NODE + 'env = { X = "$(find pkg)" }\n', {},
     r":4: unknown substitution '\$\(find pkg\)'"),
    ("unset environment variable", NODE + 'env = { X = "$(env VT_SURELY_UNSET_42)" }\n', {},
     r":4: \$\(env VT_SURELY_UNSET_42\): the environment variable VT_SURELY_UNSET_42 is not set"),
    ("unknown command-line argument", "[args]\nx = 1\n", {"y": "2"},
     r"<command line>: unknown argument 'y' for .*show\.launch\.toml \(it declares: x\)"),
    ("required argument missing", '[args]\nx = { description = "needed" }\n', {},
     r":2: argument 'x' has no default: give it as x:=VALUE"),
    ("argument not in choices", '[args]\nx = { default = "a", choices = ["a", "b"] }\n',
     {"x": "c"}, r":2: argument 'x' is 'c', not one of a, b"),
    ("condition not a boolean", NODE + 'if = "maybe"\n', {},
     r":4: condition 'maybe' gives 'maybe': not true/false"),
    ("tcp bus without address", '[bus]\ntransport = "tcp"\n', {},
     r":1: a tcp bus needs address = \"HOST:PORT\", got ''"),
    ("unknown transport", '[bus]\ntransport = "udp"\n', {},
     r":2: Invalid enum value 'udp' - at `\$\.bus\.transport`"),
    ("missing include", '[[include]]\nfile = "nope.launch.toml"\n', {},
     r":2: included file .*nope\.launch\.toml not found"),
    ("unsplittable command", '[[process]]\nname = "p"\ncommand = "echo \'open"\n', {},
     r":3: command does not split into words: No closing quotation"),
    ("empty command", '[[process]]\nname = "p"\ncommand = []\n', {},
     r":3: \[\[process\]\] 'p': command is empty"),
    ("fractional stop timeout", NODE + "stop_timeout_s = 2.5\n", {},
     r":4: Expected `int`, got `float` - at `\$\.node\[0\]\.stop_timeout_s`"),
    ("unknown log level", NODE + 'log_level = "verbose"\n', {},
     r":4: log_level 'VERBOSE' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("negative retries", NODE + "start_retries = -1\n", {},
     r":1: start_secs and start_retries must be >= 0"),
    ("negative hang timeout", NODE + "hang_timeout_s = -1.0\n", {},
     r":4: hang_timeout_s must be a number of seconds >= 0, got -1\.0"),
    ("hang timeout not a number", NODE + "hang_timeout_s = nan\n", {},
     r":4: hang_timeout_s must be a number of seconds >= 0, got nan"),
    ("zero ttl", "[bus]\nttl_s = 0.0\n", {},
     r":2: ttl_s must be a number of seconds > 0, got 0\.0"),
    ("a date as a parameter", NODE + "params = { day = 1979-05-27 }\n", {},
     r":4: 1979-05-27 is a TOML date or time, which has no JSON form: write it as a string"),
    ("environment name with =", NODE + 'env = { "A=B" = "x" }\n', {},
     r":4: env: 'A=B' is not a variable's name"),
    ("env_pass of everything", NODE + 'env_pass = ["*"]\n', {},
     r":4: env_pass entry '\*' must be a variable's name or a prefix ending in \*"),
    ("env_pass not a name", NODE + 'env_pass = ["A=B"]\n', {},
     r":4: env_pass entry 'A=B' must be"),
]


class TestBadFiles:
    @pytest.mark.parametrize(
        ("text", "args", "message"), [case[1:] for case in BAD_FILES],
        ids=[case[0] for case in BAD_FILES],
    )
    def test_refused_with_place_and_reason(self, tmp_path: Path, text: str,
                                           args: dict[str, str], message: str) -> None:
        with pytest.raises(LaunchFileError) as caught:
            load(_write(tmp_path, text), args)
        assert re.search(message, str(caught.value)), str(caught.value)

    def test_include_cycle(self, tmp_path: Path) -> None:
        _write(tmp_path, '[[include]]\nfile = "b.launch.toml"\n', "a.launch.toml")
        _write(tmp_path, '[[include]]\nfile = "a.launch.toml"\n', "b.launch.toml")
        with pytest.raises(LaunchFileError, match=r"include cycle: .*a\.launch\.toml -> "
                                                  r".*b\.launch\.toml -> .*a\.launch\.toml"):
            load(tmp_path / "a.launch.toml")

    def test_error_in_included_file_names_that_file(self, tmp_path: Path) -> None:
        _write(tmp_path, '# inner\n\n[[node]]\nname = "x"\n', "inner.launch.toml")
        top = _write(tmp_path, '[[include]]\nfile = "inner.launch.toml"\n')
        with pytest.raises(LaunchFileError, match=r"inner\.launch\.toml:3: Object missing "
                                                  r"required field `module`"):
            load(top)

    def test_unknown_host(self, tmp_path: Path) -> None:
        launch = load(_write(tmp_path, NODE))
        with pytest.raises(LaunchFileError, match=r"unknown host 'gpu': the file names main"):
            launch.share("gpu")

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(LaunchFileError, match=r"nope\.launch\.toml: launch file not found"):
            find_launch_file("nope.launch.toml", cwd=tmp_path)

    @pytest.mark.parametrize("word", ["x=1", ":=1", "1x:=2"])
    def test_bad_command_line_word(self, word: str) -> None:
        with pytest.raises(LaunchFileError, match="must look like name:=value"):
            parse_cli_args([word])
