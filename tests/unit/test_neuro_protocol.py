"""nodes/game/neuro/protocol.py: the frames the real Python SDK (``neuro-api``) writes decode,
ours are what the SDK accepts, and anything else is a NeuroWireError that names the problem."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from neuro_api import command as sdk

from nodes.game.neuro.protocol import (
    Action,
    ActionCommand,
    ActionData,
    ActionResult,
    Context,
    ForceActions,
    GracefulData,
    GracefulShutdown,
    ImmediateShutdown,
    NeuroWireError,
    RegisterActions,
    ReregisterAll,
    ShutdownReady,
    Startup,
    UnregisterActions,
    decode_client,
    encode_server,
)

SCHEMA = {"type": "object", "properties": {"cell": {"enum": [1, 2]}}, "required": ["cell"]}


class TestSdkFrames:
    """Every game -> server frame exactly as the SDK's own command builders write it."""

    def test_startup(self) -> None:
        assert decode_client(sdk.startup_command("Tic Tac Toe")) == Startup("Tic Tac Toe")

    @pytest.mark.parametrize("silent", [True, False])
    def test_context(self, silent: bool) -> None:
        message = decode_client(sdk.context_command("G", "X took the centre", silent))
        assert isinstance(message, Context)
        assert (message.data.message, message.data.silent) == ("X took the centre", silent)

    def test_register(self) -> None:
        frame = sdk.actions_register_command("G", [sdk.Action("play", "a move", SCHEMA),
                                                   sdk.Action("pass", "skip")])
        message = decode_client(frame)
        assert isinstance(message, RegisterActions)
        assert message.data.actions == [Action(name="play", description="a move", schema=SCHEMA),
                                        Action(name="pass", description="skip", schema=None)]

    def test_unregister(self) -> None:
        message = decode_client(sdk.actions_unregister_command("G", ["play", "pass"]))
        assert isinstance(message, UnregisterActions)
        assert message.data.action_names == ["play", "pass"]

    def test_force_with_priority_and_ephemeral(self) -> None:
        frame = sdk.actions_force_command("G", "board", "your move", ["play"], True,
                                          sdk.ForcePriority.HIGH)
        message = decode_client(frame)
        assert isinstance(message, ForceActions)
        data = message.data
        assert (data.state, data.query, data.action_names, data.ephemeral_context,
                data.priority) == ("board", "your move", ["play"], True, "high")

    def test_force_state_left_out(self) -> None:
        frame = b'{"command":"actions/force","game":"G","data":{"query":"q","action_names":["a"]}}'
        message = decode_client(frame)
        assert isinstance(message, ForceActions)
        assert (message.data.state, message.data.ephemeral_context) == (None, False)

    @pytest.mark.parametrize(("success", "text"), [(True, None), (False, "cell 5 is taken")])
    def test_result(self, success: bool, text: str | None) -> None:
        message = decode_client(sdk.actions_result_command("G", "id-1", success, text))
        assert isinstance(message, ActionResult)
        assert (message.data.id, message.data.success, message.data.message) == ("id-1", success,
                                                                                   text)

    def test_shutdown_ready(self) -> None:
        assert decode_client(sdk.shutdown_ready_command("G")) == ShutdownReady("G")

    def test_unknown_fields_are_tolerated(self) -> None:
        frame = ('{"command":"context","game":"G","data":{"message":"m","silent":true,'
                 '"main_thread":true},"extra":1}')
        assert isinstance(decode_client(frame), Context)


class TestServerFrames:
    """What we send, read back with the SDK's own schema checks."""

    def test_action_with_data(self) -> None:
        frame = msgspec.json.decode(encode_server(
            ActionCommand(ActionData(id="7", name="play", data='{"cell": 1}'))))
        assert frame["command"] == "action" and "game" not in frame
        assert sdk.check_typed_dict(frame["data"], sdk.IncomingActionMessageSchema) == {
            "id": "7", "name": "play", "data": '{"cell": 1}'}

    def test_action_without_data_leaves_the_key_out(self) -> None:
        frame = msgspec.json.decode(encode_server(ActionCommand(ActionData(id="7", name="pass"))))
        assert frame["data"] == {"id": "7", "name": "pass"}  # never "data": null

    @pytest.mark.parametrize(("message", "expected"), [
        (ReregisterAll(), sdk.reregister_all_command()),
        (GracefulShutdown(GracefulData(True)), sdk.shutdown_graceful_command(True)),
        (GracefulShutdown(GracefulData(False)), sdk.shutdown_graceful_command(False)),
        (ImmediateShutdown(), sdk.shutdown_immediate_command()),
    ])
    def test_proposed_commands_match_the_sdk(self, message, expected: bytes) -> None:
        assert msgspec.json.decode(encode_server(message)) == msgspec.json.decode(expected)

    def test_frames_are_text(self) -> None:
        assert isinstance(encode_server(ReregisterAll()), str)


class TestRefused:
    @pytest.mark.parametrize(("frame", "kind", "words"), [
        # not JSON at all
        ("{oops", "json", "not JSON"),
        (b"\xff\xfe", "json", "not JSON"),
        # JSON, but not a command object
        ("[1, 2]", "shape", "not a command object"),
        ('{"game": "G"}', "shape", "command"),
        ('{"command": 5, "game": "G"}', "shape", "not a command object"),
        # a command nobody defined (including the server's own, sent back)
        ('{"command": "actions/dance", "game": "G"}', "unknown_command", "'actions/dance'"),
        ('{"command": "action", "game": "G", "data": {}}', "unknown_command", "'action'"),
        # known commands with missing or mistyped data
        ('{"command": "context", "game": "G"}', "bad_data", "context: Object missing"),
        ('{"command": "context", "game": "G", "data": {"message": 3}}', "bad_data",
         "$.data.message"),
        ('{"command": "actions/force", "game": "G", "data": {"query": "q"}}', "bad_data",
         "action_names"),
        ('{"command": "startup"}', "bad_data", "game"),
    ])
    def test_reason_names_the_problem(self, frame: str | bytes, kind: str, words: str) -> None:
        with pytest.raises(NeuroWireError, match=None) as caught:
            decode_client(frame)
        assert caught.value.kind == kind
        assert words in str(caught.value)

    def test_unknown_command_name_is_cut(self) -> None:
        with pytest.raises(NeuroWireError) as caught:
            decode_client(msgspec.json.encode({"command": "x" * 10_000, "game": "G"}))
        assert len(str(caught.value)) < 200

    @seed(16)
    @settings(max_examples=300, derandomize=True, print_blob=True, deadline=None)
    @given(st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(["command", "game", "data", "message",
                                                        "actions", "id", "success"]),
                                       inner, max_size=4), max_leaves=12).map(
            lambda value: msgspec.json.encode(value)),
    ))
    def test_anything_decodes_or_is_a_wire_error(self, frame: str | bytes) -> None:
        try:
            decode_client(frame)
        except NeuroWireError as exc:
            assert exc.kind in {"json", "shape", "unknown_command", "bad_data"}
