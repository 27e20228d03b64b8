"""The Neuro game API on the wire: what games send, what the server answers, nothing else.

The spec is ``API/SPECIFICATION.md`` (and ``PROPOSALS.md``) of the public repository
VedalAI/neuro-game-sdk. Text frames of JSON; a game (the WebSocket client) sends
``{"command", "game", "data"?}``, the server sends ``{"command", "data"?}`` without ``game``:

========================  ====================================================
game -> server            data
========================  ====================================================
``startup``               none (clears that game's actions)
``context``               ``message``, ``silent``
``actions/register``      ``actions``: ``[{name, description, schema?}]``
``actions/unregister``    ``action_names``
``actions/force``         ``state?``, ``query``, ``ephemeral_context?``,
                          ``action_names``, ``priority?`` (SDKs send it)
``action/result``         ``id``, ``success``, ``message?``
``shutdown/ready``        none (proposed)
========================  ====================================================

server -> game: ``action`` {``id``, ``name``, ``data?``: the arguments as a JSON *string*,
the key left out when there are none}, and the proposed ``actions/reregister_all``,
``shutdown/graceful`` {``wants_shutdown``} and ``shutdown/immediate``.

Decoding is tolerant where SDKs differ (unknown fields are ignored, ``silent`` and
``priority`` have defaults) and strict where a value is needed; anything else is a
`NeuroWireError` that says which command and field was wrong, so the server can log it,
count it and keep the connection open.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bus.errors import WireError

__all__ = [
    "CLIENT_COMMANDS",
    "Action",
    "ActionCommand",
    "ActionData",
    "ActionResult",
    "ClientMessage",
    "Context",
    "ContextData",
    "ForceActions",
    "ForceData",
    "GracefulData",
    "GracefulShutdown",
    "ImmediateShutdown",
    "NeuroWireError",
    "RegisterActions",
    "RegisterData",
    "ReregisterAll",
    "ResultData",
    "ServerMessage",
    "ShutdownReady",
    "Startup",
    "UnregisterActions",
    "UnregisterData",
    "decode_client",
    "encode_server",
]


class NeuroWireError(WireError):
    """A frame from a game that is not a message of the spec: not JSON, not an object, an
    unknown command, or a known command whose data is missing or of the wrong type."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        """``json``, ``shape``, ``unknown_command`` or ``bad_data`` (a counter's key)."""


# ------------------------------------------------------------------ game -> server


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """An action a game registers: a tool the player may call."""

    name: str
    """Unique per game; lowercase words joined by ``_`` or ``-`` in the spec's advice."""
    description: str = ""
    schema: dict[str, Any] | None = None
    """JSON schema of the arguments (``"type": "object"``); none or ``{}``: no arguments."""


class ContextData(msgspec.Struct, frozen=True, kw_only=True):
    message: str
    silent: bool = True
    """False: the player might answer aloud. The spec requires it; missing counts as silent."""


class RegisterData(msgspec.Struct, frozen=True, kw_only=True):
    actions: list[Action]


class UnregisterData(msgspec.Struct, frozen=True, kw_only=True):
    action_names: list[str]


class ForceData(msgspec.Struct, frozen=True, kw_only=True):
    query: str
    """What the player is to do now ("It is your turn...")."""
    action_names: list[str]
    state: str | None = None
    """The game's state in any format (text, JSON, Markdown)."""
    ephemeral_context: bool = False
    """True: forget ``state`` and ``query`` once the force is done."""
    priority: str = "low"
    """``low``..``critical`` (how soon to interrupt speech); kept as text, SDKs differ."""


class ResultData(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    success: bool
    message: str | None = None


class Startup(msgspec.Struct, frozen=True, tag_field="command", tag="startup"):
    game: str


class Context(msgspec.Struct, frozen=True, tag_field="command", tag="context"):
    game: str
    data: ContextData


class RegisterActions(msgspec.Struct, frozen=True, tag_field="command", tag="actions/register"):
    game: str
    data: RegisterData


class UnregisterActions(msgspec.Struct, frozen=True, tag_field="command",
                        tag="actions/unregister"):
    game: str
    data: UnregisterData


class ForceActions(msgspec.Struct, frozen=True, tag_field="command", tag="actions/force"):
    game: str
    data: ForceData


class ActionResult(msgspec.Struct, frozen=True, tag_field="command", tag="action/result"):
    game: str
    data: ResultData


class ShutdownReady(msgspec.Struct, frozen=True, tag_field="command", tag="shutdown/ready"):
    game: str


ClientMessage = (Startup | Context | RegisterActions | UnregisterActions | ForceActions
                 | ActionResult | ShutdownReady)
CLIENT_COMMANDS = frozenset(cls.__struct_config__.tag for cls in ClientMessage.__args__)


class _Envelope(msgspec.Struct):
    """Just enough of a frame to say which command a refused one claimed to be."""

    command: str


_client_decoder = msgspec.json.Decoder(ClientMessage)
_envelope_decoder = msgspec.json.Decoder(_Envelope)


def decode_client(frame: str | bytes) -> ClientMessage:
    """One frame from a game as its message.

    Raises
    ------
    NeuroWireError
        Not JSON, not an object with a ``command``, an unknown command, or a known one with
        missing or mistyped data; the reason names the command and msgspec's location.
    """
    try:
        return _client_decoder.decode(frame)
    except msgspec.ValidationError as exc:
        problem = str(exc)
    except msgspec.DecodeError as exc:
        raise NeuroWireError("json", f"not JSON: {exc}") from None
    try:
        command = _envelope_decoder.decode(frame).command
    except msgspec.ValidationError:
        raise NeuroWireError("shape", f"not a command object ({problem})") from None
    if command not in CLIENT_COMMANDS:
        raise NeuroWireError("unknown_command", f"unknown command {command[:80]!r}")
    raise NeuroWireError("bad_data", f"{command}: {problem}")


# ------------------------------------------------------------------ server -> game


class ActionData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    name: str
    data: str | None = None
    """The arguments as a JSON string; left out (never null) when the action has none."""


class ActionCommand(msgspec.Struct, frozen=True, tag_field="command", tag="action"):
    data: ActionData


class ReregisterAll(msgspec.Struct, frozen=True, tag_field="command",
                    tag="actions/reregister_all"):
    """Proposed: the game registers every action it has again (sent when we do not know
    them: a game that talks to us without a ``startup``, after our restart)."""


class GracefulData(msgspec.Struct, frozen=True):
    wants_shutdown: bool


class GracefulShutdown(msgspec.Struct, frozen=True, tag_field="command", tag="shutdown/graceful"):
    """Proposed: save and go back to the menu at the next good moment (or cancel that)."""

    data: GracefulData


class ImmediateShutdown(msgspec.Struct, frozen=True, tag_field="command",
                        tag="shutdown/immediate"):
    """Proposed: save what can be saved now."""


ServerMessage = ActionCommand | ReregisterAll | GracefulShutdown | ImmediateShutdown

_server_encoder = msgspec.json.Encoder()


def encode_server(message: ServerMessage) -> str:
    """``message`` as the text frame to send (the spec wants text, not binary, frames)."""
    return _server_encoder.encode(message).decode()
