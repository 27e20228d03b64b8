"""The chat node's parameters and sources (issue 15): a live parameter changes what the node
does after ``vtparam set``, an at_start one is refused with the restart that changes it, the
launch check refuses a bad value before anything starts, and a new source kind is one class
plus one registry line."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
from helpers.chat import chat_line
from helpers.launch import assert_params_refused

from bus.errors import ParameterError, PluginError, VtError, WireError
from bus.node import Node, NodeOptions
from bus.params import check_values
from bus.testing import NodeHarness, wait_until
from messages.chat import ChatSay
from nodes.chat.node import ChatNode
from nodes.chat.params import Params
from nodes.chat.sources import SOURCES, SourceHooks
from nodes.chat.sources.youtube import BadItem, PageError
from nodes.chat.twitch.irc import IrcParseError

UNUSED_BUS = "ipc:///tmp/vt-chat-params-unused"
NODE_PY = Path(__file__).parents[2] / "nodes" / "chat" / "node.py"


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[NodeHarness]:
    """A started chat node (timers and sources running) with the test's parameters."""
    params: dict[str, Any] = {"sources": "", **getattr(request, "param", {})}
    node = ChatNode(options=NodeOptions(bus=UNUSED_BUS, parameters=params))
    harness = NodeHarness(node)
    await node.start()
    yield harness
    await node.close()


class TestRunTimeSets:
    async def test_personas_set_at_run_time_are_heard_by_ask(self, harness: NodeHarness) -> None:
        assert (await harness.set_parameters(personas="Aria,Cleo")).successful
        harness.feed("chat/incoming", chat_line("!ask cleo are you new", user="ann"))
        published = harness.messages("chat/message")[0]
        assert (published.command, published.persona) == ("ask", "Cleo")

    async def test_a_bad_command_table_is_refused_and_nothing_changes(
        self, harness: NodeHarness
    ) -> None:
        answer = await harness.set_parameters(command_prefix="?",
                                      commands={"x": {"role": "root", "reply": "r"}})
        assert not answer.successful and "unknown role 'root'" in answer.reason
        harness.feed("chat/incoming", chat_line("?persona", user="ann"))
        assert harness.messages("chat/message")[0].command == ""  # "!" is still the prefix

    async def test_a_blocklist_set_at_run_time_drops_later_messages(
        self, harness: NodeHarness
    ) -> None:
        assert (await harness.set_parameters(triage={"blocklist": ["spoiler"]})).successful
        harness.feed("chat/incoming", chat_line("spoiler: the end", user="ann"))
        assert harness.node.counters["dropped_blocklist"] == 1
        refused = await harness.set_parameters(triage={"tiers": ["vips"]})
        assert not refused.successful and "unknown triage tier(s) ['vips']" in refused.reason

    @pytest.mark.parametrize("harness", [{"age_period_s": 3600.0,
                                          "triage": {"max_age_s": 0.05}}], indirect=True)
    async def test_age_period_applies_to_the_running_timer(self, harness: NodeHarness) -> None:
        harness.feed("chat/incoming", chat_line("soon stale", user="ann"))
        assert (await harness.set_parameters(age_period_s=0.05)).successful
        # with the hour-long period still in force, the message would wait an hour
        await wait_until(lambda: harness.node.counters["dropped_stale"] == 1, 10,
                         what="the stale message aged out")

    @pytest.mark.parametrize("name, value", [("sources", "twitch"), ("twitch_channel", "x"),
                                             ("input_topic", "elsewhere")])
    async def test_a_parameter_read_at_start_is_refused(self, harness: NodeHarness, name: str,
                                                        value: str) -> None:
        answer = await harness.set_parameters(**{name: value})
        assert not answer.successful
        assert f"{name} is read at start: restart the node with -p {name}:=VALUE" in \
            answer.reason


class TestLaunchCheck:
    def test_a_wrong_type_is_refused_at_its_line(self, tmp_path: Path) -> None:
        assert_params_refused(tmp_path, "chat", 'sources = "twitch", twitch_send_limit = "abc"',
                              r"parameter 'twitch_send_limit' expects int, got 'abc'")

    @pytest.mark.parametrize("values, error", [
        ({"age_period_s": 0}, "'age_period_s' expects float"),
        ({"twitch_url": "http://irc.example"}, "'twitch_url' expects str"),
        ({"youtube_daily_quota": 0}, "'youtube_daily_quota' expects int"),
        ({"sources": "twitch;rm -rf"}, "'sources' expects str"),
        ({"twitch_chanel": "x"}, "did you mean twitch_channel"),
    ])
    def test_out_of_bounds_values_are_refused(self, values: dict[str, Any], error: str) -> None:
        with pytest.raises(ParameterError, match=error):
            check_values(Params, values, node="chat")

    @pytest.mark.parametrize("kind", SOURCES.kinds())
    def test_flat_parameters_are_the_fields_of_their_source(self, kind: str) -> None:
        # `<kind>_<field>` parameters keep stream.launch.toml working; each must be a field
        # of the source's Settings with the same default, or the two declarations drifted
        settings = SOURCES.plugin_class(kind).Settings
        defaults = {f.name: f.default for f in msgspec.structs.fields(settings)}
        flat = {name.removeprefix(f"{kind}_"): value
                for name, value in msgspec.structs.asdict(Params()).items()
                if name.startswith(f"{kind}_")}
        assert flat, f"no {kind}_ parameters"
        for field, default in flat.items():
            assert field in defaults, f"{kind}_{field} is no field of {settings.__name__}"
            if defaults[field] is not msgspec.NODEFAULT:
                assert defaults[field] == default, f"{kind}_{field}"


class EchoSource:
    """A source kind the chat node has never heard of: says its lines, then keeps what it is
    asked to post."""

    class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        lines: list[str] = []

    platform = "bag"
    can_send = True

    def __init__(self, settings: EchoSource.Settings, hooks: SourceHooks):
        self.settings = settings
        self.hooks = hooks
        self.posted: list[str] = []
        EchoSource.built.append(self)

    built: ClassVar[list[EchoSource]] = []

    async def run(self) -> None:
        for i, text in enumerate(self.settings.lines):
            self.hooks.on_message(chat_line(text, user="echoer", platform="bag",
                                            msg_id=f"echo-{i}"))

    async def say(self, text: str, *, reply_to: str = "") -> bool:
        self.posted.append(text)
        return True

    async def close(self) -> None:
        pass


class TestPlugins:
    async def test_a_new_source_is_one_class_and_one_registry_line(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(SOURCES.entries, "echo", f"{__name__}:EchoSource")  # the one line
        node = ChatNode(options=NodeOptions(bus=UNUSED_BUS, parameters={
            "sources": "echo", "source_settings": {"echo": {"lines": ["one", "two"]}}}))
        harness = NodeHarness(node)
        await node.start()
        try:
            await wait_until(lambda: len(harness.messages("chat/message")) == 2,
                             what="the echo source's lines")
            assert [(m.platform, m.text) for m in harness.messages("chat/message")] == [
                ("bag", "one"), ("bag", "two")]
            harness.feed("chat/say", ChatSay(text="hi echo", platform="bag"))
            await harness.settle()
            assert EchoSource.built[-1].posted == ["hi echo"]
        finally:
            await node.close()

    @pytest.mark.parametrize("table, error", [
        ({"chanel": "x"}, "unknown field `chanel`"),
        ({"channel": "x", "send_limit": 0}, r"Expected `int` >= 1 - at `\$.send_limit`"),
        ({"channel": "x", "url": "http://x"}, r"at `\$.url`"),
    ])
    def test_a_bad_settings_table_names_the_source_and_field(self, table: dict[str, Any],
                                                             error: str) -> None:
        with pytest.raises(PluginError, match=rf"chat source 'twitch' settings: .*{error}"):
            ChatNode(options=NodeOptions(bus=UNUSED_BUS, parameters={
                "sources": "twitch", "source_settings": {"twitch": table}}))


class TestStructure:
    async def test_the_node_assigns_no_attribute_of_node(self) -> None:
        # issue 15 item 5: the chat node replaced the base class's task set (self._tasks)
        base = Node("probe", options=NodeOptions(bus=UNUSED_BUS))
        taken = set(vars(base))
        await base.close()
        assigned = {target.attr for node in ast.walk(ast.parse(NODE_PY.read_text()))
                    if isinstance(node, ast.Assign | ast.AnnAssign)
                    for target in (node.targets if isinstance(node, ast.Assign)
                                   else [node.target])
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                    and target.value.id == "self"}
        assert not assigned & taken

    @pytest.mark.parametrize("error", [IrcParseError, BadItem, PageError])
    def test_a_peers_malformed_data_is_a_wire_error(self, error: type[Exception]) -> None:
        assert issubclass(error, WireError) and issubclass(error, VtError)
