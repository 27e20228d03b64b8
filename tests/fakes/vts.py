"""A loopback VTube Studio stand-in that enforces the documented rules of its public API.

VTube Studio cannot run here, so tests talk to this WebSocket server instead. It follows
the DenchiSoft/VTubeStudio README, its Events page and ``Files/ErrorID.cs``:

- the envelope (``apiName``/``apiVersion``/``requestID``/``messageType``/``data``, responses
  with ``timestamp``), checked with error ids 2-7; responses carry extra unknown fields, since
  VTS adds fields without changing the API version;
- ``AuthenticationTokenRequest`` (plugin and developer names 3-32 characters, 52/53) answered
  with a token, or error 50 when configured to deny; ``AuthenticationRequest`` (100-102 for
  missing fields) answering ``authenticated: false`` for a bad or revoked token; every other
  request except ``APIStateRequest`` refused with error 8 until the session authenticates;
- ``InjectParameterDataRequest``: 450-455, one plugin "sets" a parameter at a time (454 for
  another), and a value not re-sent within 1 s lapses back to its default (recorded). The
  README only says that "if one or more of the parameters don't exist, an error payload will
  be returned": ``{"errorID": 453, "message": ...}``, no field naming the parameter, and the
  message text is not specified, so this stand-in names none (a client must find them itself).
  The request is all or nothing: one refused parameter and none of its values is applied.
  ``missing_parameters`` are parameters this VTS does not have (an older version, a custom
  parameter nobody created); tests may change the set while it runs;
- hotkeys (201/202), expressions (650-652) with fades clamped to 0..2 s, the current model,
  event subscriptions (950) with events sent interleaved with responses;
- the ``VTubeStudioAPIStateBroadcast`` on UDP, and `FakeVts.restart` to restart mid-show.

Everything injected is recorded with its arrival time (``time.time_ns()``), so tests can
compare the mouth with the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["DEFAULT_PARAMETERS", "FakeModel", "FakeVts", "Injection"]

API_NAME = "VTubeStudioPublicAPI"
PARAMETER_TIMEOUT_S = 1.0

DEFAULT_PARAMETERS: dict[str, float] = {
    name: 0.0 for name in (
        "FacePositionX", "FacePositionY", "FacePositionZ", "FaceAngleX", "FaceAngleY",
        "FaceAngleZ", "MouthSmile", "MouthOpen", "Brows", "BrowLeftY", "BrowRightY",
        "EyeLeftX", "EyeLeftY", "EyeRightX", "EyeRightY", "MouthX", "CheekPuff", "TongueOut",
        "FaceAngry", "BrowInnerUp", "VoiceVolume", "VoiceFrequency",
    )
} | {"EyeOpenLeft": 1.0, "EyeOpenRight": 1.0}
"""VTS default input parameters (a subset) and their rest values."""

EVENT_NAMES = {
    "TestEvent", "ModelLoadedEvent", "TrackingStatusChangedEvent", "BackgroundChangedEvent",
    "ModelConfigChangedEvent", "ModelMovedEvent", "ModelOutlineEvent", "HotkeyTriggeredEvent",
}
UNAUTHENTICATED_OK = {"APIStateRequest", "AuthenticationTokenRequest", "AuthenticationRequest"}


@dataclass
class FakeModel:
    name: str = "Hiyori"
    model_id: str = "0123456789abcdef0123456789abcdef"
    hotkeys: list[dict[str, Any]] = field(default_factory=lambda: [
        {"name": "Happy", "type": "ToggleExpression", "file": "Happy.exp3.json",
         "hotkeyID": "hk-happy"},
        {"name": "Sad", "type": "ToggleExpression", "file": "Sad.exp3.json",
         "hotkeyID": "hk-sad"},
        {"name": "Wave", "type": "TriggerAnimation", "file": "Wave.motion3.json",
         "hotkeyID": "hk-wave"},
    ])
    expressions: list[str] = field(default_factory=lambda: [
        "Happy.exp3.json", "Sad.exp3.json", "Angry.exp3.json", "Surprised.exp3.json"])


@dataclass(frozen=True)
class Injection:
    """One parameter value as VTS received it."""

    t_ns: int
    session: int
    plugin: str
    param: str
    value: float
    mode: str


@dataclass
class _Session:
    id: int
    ws: ServerConnection
    plugin: str = ""
    developer: str = ""
    authenticated: bool = False
    revoked: bool = False
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_task: asyncio.Task[None] | None = None


class _ApiError(Exception):
    def __init__(self, error_id: int, message: str):
        super().__init__(message)
        self.error_id = error_id
        self.message = message


class FakeVts:
    """One VTube Studio instance on 127.0.0.1.

    Parameters
    ----------
    port:
        WebSocket port; 0 picks a free one (kept across `restart`).
    allow:
        Whether the "user" clicks Allow on a token request (False: error 50).
    broadcast_port:
        Where to send the UDP state broadcast (None: no broadcast).
    test_event_s:
        Period of ``TestEvent`` for subscribed sessions (the docs say 1 s; tests go faster).
    missing_parameters:
        Default parameters this VTS lacks: injecting any of them is refused with error 453.
    """

    def __init__(self, *, port: int = 0, allow: bool = True, model: FakeModel | None = None,
                 window_title: str = "VTube Studio", broadcast_port: int | None = None,
                 broadcast_interval_s: float = 2.0, test_event_s: float = 1.0,
                 missing_parameters: set[str] | frozenset[str] = frozenset()):
        self.host = "127.0.0.1"
        self.port = port
        self.allow = allow
        self.model: FakeModel | None = model or FakeModel()
        self.window_title = window_title
        self.broadcast_port = broadcast_port
        self.broadcast_interval_s = broadcast_interval_s
        self.test_event_s = test_event_s
        self.missing_parameters = set(missing_parameters)
        self.instance_id = uuid.uuid4().hex
        # survives restarts, like the allowed-plugins list VTS keeps on disk
        self.tokens: dict[str, tuple[str, str]] = {}
        self.token_requests = 0
        self.auth_results: list[bool] = []
        self.injections: list[Injection] = []
        self.lapses: list[tuple[int, str, str]] = []
        """(time, parameter, plugin) of every value that lapsed after 1 s without re-send."""
        self.values = dict(DEFAULT_PARAMETERS)
        self.expressions: dict[str, bool] = {}
        self.expression_log: list[tuple[int, str, bool, float]] = []
        self.hotkey_log: list[tuple[int, str]] = []
        self.errors: list[tuple[str, int]] = []
        self.requests: list[str] = []
        self.sessions_opened = 0
        self.restarts = 0
        self._owners: dict[str, tuple[int, int]] = {}
        """parameter -> (session id, time of its last "set")"""
        self._sessions: dict[int, _Session] = {}
        self._answer_overrides: list[tuple[str, Callable[[str], str | bytes | None]]] = []
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> FakeVts:
        self._server = await serve(self._handle, self.host, self.port, compression=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._expire_parameters())]
        if self.broadcast_port is not None:
            self._tasks.append(loop.create_task(self._broadcast()))
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for session in list(self._sessions.values()):
            self._drop_session(session)

    async def restart(self, downtime_s: float = 0.5) -> None:
        """Quit (every plugin disconnected, parameters released), stay away, come back with a
        new instance id on the same port; allowed tokens are remembered, as VTS does."""
        await self.stop()
        self.expressions.clear()
        self._owners.clear()
        self.values = dict(DEFAULT_PARAMETERS)
        await asyncio.sleep(downtime_s)
        self.instance_id = uuid.uuid4().hex
        self.restarts += 1
        await self.start()

    async def __aenter__(self) -> FakeVts:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def send_raw(self, text: str | bytes) -> None:
        """Send any frame (text, or binary for bytes) to every plugin (to test how clients
        cope with surprises)."""
        for session in list(self._sessions.values()):
            with contextlib.suppress(ConnectionClosed):
                await session.ws.send(text)

    def answer_next_with(self, make: Callable[[str], str | bytes | None],
                         message_type: str = "") -> None:
        """Answer the next request (of ``message_type``, if given) with ``make(its
        requestID)``, sent as it is, instead of its real answer (to test how clients cope
        with malformed answers); None: no answer at all."""
        self._answer_overrides.append((message_type, make))

    async def drop_connections(self) -> None:
        """Close every plugin connection (a network hiccup): VTS keeps running, with its
        expressions and model as they are."""
        for session in list(self._sessions.values()):
            await session.ws.close(1001, "going away")

    def revoke(self) -> None:
        """The user revokes every plugin's access: stored tokens stop working, and open
        sessions get error 50 on their next request (as the README says)."""
        self.tokens.clear()
        for session in self._sessions.values():
            session.revoked = True

    async def load_model(self, model: FakeModel | None) -> None:
        """Switch models, sending ``ModelLoadedEvent`` to subscribers (unload, then load)."""
        if self.model is not None:
            await self.emit("ModelLoadedEvent", {"modelLoaded": False,
                                                 "modelName": self.model.name,
                                                 "modelID": self.model.model_id})
        self.model = model
        self.expressions.clear()
        if model is not None:
            await self.emit("ModelLoadedEvent", {"modelLoaded": True, "modelName": model.name,
                                                 "modelID": model.model_id})

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every session subscribed to it."""
        for session in list(self._sessions.values()):
            if event in session.events:
                await self._send(session, event, data, request_id=uuid.uuid4().hex)

    # ------------------------------------------------------------ queries for tests

    def series(self, param: str, *, plugin: str | None = None) -> list[tuple[int, float]]:
        """(arrival ns, value) of every value received for ``param``."""
        return [(i.t_ns, i.value) for i in self.injections
                if i.param == param and (plugin is None or i.plugin == plugin)]

    @property
    def authenticated_sessions(self) -> int:
        return sum(1 for s in self._sessions.values() if s.authenticated)

    # ------------------------------------------------------------ the server

    async def _handle(self, ws: ServerConnection) -> None:
        session = _Session(next(self._ids), ws)
        self._sessions[session.id] = session
        self.sessions_opened += 1
        try:
            async for raw in ws:
                await self._on_message(session, raw)
        except ConnectionClosed:
            pass
        finally:
            self._drop_session(session)

    def _drop_session(self, session: _Session) -> None:
        self._sessions.pop(session.id, None)
        if session.test_task is not None:
            session.test_task.cancel()
        for param, (owner, _) in list(self._owners.items()):
            if owner == session.id:  # a disconnected plugin's parameters go back at once
                del self._owners[param]
                self.values[param] = DEFAULT_PARAMETERS[param]

    async def _on_message(self, session: _Session, raw: str | bytes) -> None:
        request_id = ""
        message_type = ""
        try:
            try:
                frame = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise _ApiError(2, "JSON payload invalid") from None
            if not isinstance(frame, dict):
                raise _ApiError(2, "JSON payload is not an object")
            request_id = frame.get("requestID", uuid.uuid4().hex)
            message_type = str(frame.get("messageType") or "")
            self._check_envelope(frame, request_id)
            self.requests.append(message_type)
            override = next((o for o in self._answer_overrides if o[0] in ("", message_type)),
                            None)
            if override is not None:
                self._answer_overrides.remove(override)
                answer = override[1](request_id)
                if answer is not None:
                    with contextlib.suppress(ConnectionClosed):
                        await session.ws.send(answer)
                return
            data = frame.get("data") or {}
            if not isinstance(data, dict):
                raise _ApiError(2, "data must be a JSON object")
            if message_type not in UNAUTHENTICATED_OK and not session.authenticated:
                raise _ApiError(8, "This request requires authentication.")
            if session.revoked and message_type not in UNAUTHENTICATED_OK:
                raise _ApiError(50, "User has revoked API access for your plugin.")
            handler = getattr(self, f"_on_{message_type}", None)
            if handler is None:
                raise _ApiError(7, f"Unknown request type {message_type}")
            answer = await handler(session, data)
        except _ApiError as exc:
            self.errors.append((message_type, exc.error_id))
            await self._send(session, "APIError",
                             {"errorID": exc.error_id, "message": exc.message},
                             request_id=str(request_id))
            return
        response_type = message_type.removesuffix("Request") + "Response"
        await self._send(session, response_type, answer, request_id=str(request_id))

    @staticmethod
    def _check_envelope(frame: dict[str, Any], request_id: Any) -> None:
        if frame.get("apiName") != API_NAME:
            raise _ApiError(3, "apiName must be VTubeStudioPublicAPI")
        if frame.get("apiVersion") != "1.0":
            raise _ApiError(4, "apiVersion must be 1.0")
        if not isinstance(request_id, str) or not 1 <= len(request_id) <= 64 \
                or not request_id.isascii():
            raise _ApiError(5, "requestID must be 1-64 ASCII characters")
        if not frame.get("messageType"):
            raise _ApiError(6, "messageType missing or empty")

    async def _send(self, session: _Session, message_type: str, data: dict[str, Any], *,
                    request_id: str) -> None:
        frame = {
            "apiName": API_NAME, "apiVersion": "1.0", "timestamp": time.time_ns() // 1_000_000,
            "messageType": message_type, "requestID": request_id,
            "data": {**data, "fieldFromAFutureVersion": 1},
            "anotherUnknownTopLevelField": {"nested": [1, 2]},
        }
        with contextlib.suppress(ConnectionClosed):
            await session.ws.send(json.dumps(frame))

    # ------------------------------------------------------------ requests

    async def _on_APIStateRequest(self, session: _Session, data: dict[str, Any]) -> dict[str, Any]:
        return {"active": True, "vTubeStudioVersion": "1.28.0",
                "currentSessionAuthenticated": session.authenticated}

    async def _on_AuthenticationTokenRequest(self, session: _Session, data: dict[str, Any]
                                             ) -> dict[str, Any]:
        name, developer = str(data.get("pluginName", "")), str(data.get("pluginDeveloper", ""))
        if not 3 <= len(name) <= 32:
            raise _ApiError(52, "pluginName must be 3-32 characters")
        if not 3 <= len(developer) <= 32:
            raise _ApiError(53, "pluginDeveloper must be 3-32 characters")
        self.token_requests += 1
        if not self.allow:
            raise _ApiError(50, "User has denied API access for your plugin.")
        token = uuid.uuid4().hex + uuid.uuid4().hex  # 64 characters, the documented maximum
        self.tokens[token] = (name, developer)
        return {"authenticationToken": token}

    async def _on_AuthenticationRequest(self, session: _Session, data: dict[str, Any]
                                        ) -> dict[str, Any]:
        token = data.get("authenticationToken")
        if not token:
            raise _ApiError(100, "authenticationToken missing")
        if not data.get("pluginName"):
            raise _ApiError(101, "pluginName missing")
        if not data.get("pluginDeveloper"):
            raise _ApiError(102, "pluginDeveloper missing")
        owner = self.tokens.get(str(token))
        ok = owner == (data["pluginName"], data["pluginDeveloper"])
        self.auth_results.append(ok)
        if not ok:
            return {"authenticated": False,
                    "reason": "Token invalid or revoked, or plugin name/developer differ."}
        session.authenticated = True
        session.revoked = False
        session.plugin, session.developer = owner  # type: ignore[misc]
        return {"authenticated": True,
                "reason": "Token valid. The plugin is authenticated for the duration of this "
                          "session."}

    async def _on_InjectParameterDataRequest(self, session: _Session, data: dict[str, Any]
                                             ) -> dict[str, Any]:
        mode = data.get("mode") or "set"
        if mode not in ("set", "add"):
            raise _ApiError(455, f"Unknown mode {mode!r}: use set or add")
        values = data.get("parameterValues")
        if not isinstance(values, list) or not values:
            raise _ApiError(450, "No data provided")
        now = time.time_ns()
        for entry in values:
            param = entry.get("id") if isinstance(entry, dict) else None
            if param not in DEFAULT_PARAMETERS or param in self.missing_parameters:
                raise _ApiError(453, "Parameter not found.")  # which one: not documented
            value = entry.get("value")
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not -1_000_000 <= value <= 1_000_000:
                raise _ApiError(451, f"Value for {param} invalid: {value!r}")
            weight = entry.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float) \
                    or not 0 <= weight <= 1:
                raise _ApiError(452, f"Weight for {param} invalid: {weight!r}")
            owner = self._owners.get(param)
            if mode == "set" and owner is not None and owner[0] != session.id:
                raise _ApiError(454, f"Parameter {param} is currently controlled by another "
                                "plugin")
        for entry in values:
            param, value = entry["id"], float(entry["value"])
            if mode == "set":
                self._owners[param] = (session.id, now)
                self.values[param] = value
            self.injections.append(Injection(now, session.id, session.plugin, param, value, mode))
        return {}

    async def _on_CurrentModelRequest(self, session: _Session, data: dict[str, Any]
                                      ) -> dict[str, Any]:
        model = self.model
        if model is None:
            return {"modelLoaded": False, "modelName": "", "modelID": ""}
        return {"modelLoaded": True, "modelName": model.name, "modelID": model.model_id,
                "vtsModelName": f"{model.name}.vtube.json", "modelLoadTime": 1200,
                "timeSinceModelLoaded": 5000, "numberOfLive2DParameters": 40,
                "modelPosition": {"positionX": 0, "positionY": 0, "rotation": 0, "size": -50}}

    async def _on_HotkeysInCurrentModelRequest(self, session: _Session, data: dict[str, Any]
                                               ) -> dict[str, Any]:
        model = self.model
        if model is None:
            return {"modelLoaded": False, "modelName": "", "modelID": "", "availableHotkeys": []}
        hotkeys = [{"description": "", "keyCombination": [], "onScreenButtonID": -1, **h}
                   for h in model.hotkeys]
        return {"modelLoaded": True, "modelName": model.name, "modelID": model.model_id,
                "availableHotkeys": hotkeys}

    async def _on_HotkeyTriggerRequest(self, session: _Session, data: dict[str, Any]
                                       ) -> dict[str, Any]:
        if self.model is None:
            raise _ApiError(201, "No model loaded")
        wanted = str(data.get("hotkeyID", ""))
        hotkey = next((h for h in self.model.hotkeys if h["hotkeyID"] == wanted), None) or \
            next((h for h in self.model.hotkeys if h["name"].lower() == wanted.lower()), None)
        if hotkey is None:
            raise _ApiError(202, f"Hotkey {wanted!r} not found in model")
        if hotkey["type"] == "ToggleExpression":
            file = hotkey["file"]
            self.expressions[file] = not self.expressions.get(file, False)
        self.hotkey_log.append((time.time_ns(), hotkey["hotkeyID"]))
        # the event goes out before the response: clients must match by requestID
        await self.emit("HotkeyTriggeredEvent", {
            "hotkeyID": hotkey["hotkeyID"], "hotkeyName": hotkey["name"],
            "hotkeyAction": hotkey["type"], "hotkeyFile": hotkey["file"],
            "hotkeyTriggeredByAPI": True, "modelID": self.model.model_id,
            "modelName": self.model.name, "isLive2DItem": False})
        return {"hotkeyID": hotkey["hotkeyID"]}

    async def _on_ExpressionActivationRequest(self, session: _Session, data: dict[str, Any]
                                              ) -> dict[str, Any]:
        file = str(data.get("expressionFile", ""))
        if not file.endswith(".exp3.json"):
            raise _ApiError(650, f"Invalid expression file name {file!r}")
        if self.model is None:
            raise _ApiError(652, "No model loaded")
        if file not in self.model.expressions:
            raise _ApiError(651, f"Expression {file} not found in model")
        fade = min(2.0, max(0.0, float(data.get("fadeTime", 0.25))))
        active = bool(data.get("active", True))
        self.expressions[file] = active
        self.expression_log.append((time.time_ns(), file, active, fade))
        return {}

    async def _on_ExpressionStateRequest(self, session: _Session, data: dict[str, Any]
                                         ) -> dict[str, Any]:
        files = self.model.expressions if self.model else []
        return {"modelLoaded": self.model is not None,
                "expressions": [{"name": f.removesuffix(".exp3.json"), "file": f,
                                 "active": self.expressions.get(f, False)} for f in files]}

    async def _on_EventSubscriptionRequest(self, session: _Session, data: dict[str, Any]
                                           ) -> dict[str, Any]:
        name = str(data.get("eventName") or "")
        subscribe = bool(data.get("subscribe", False))
        config = data.get("config") or {}
        if not subscribe and not name:
            session.events.clear()
        elif name not in EVENT_NAMES:
            raise _ApiError(950, f"Unknown event type {name!r}")
        elif subscribe:
            if name == "TestEvent" and len(str(config.get("testMessageForEvent", ""))) > 32:
                raise _ApiError(100000, "testMessageForEvent longer than 32 characters")
            session.events[name] = config
        else:
            session.events.pop(name, None)
        if "TestEvent" in session.events and session.test_task is None:
            session.test_task = asyncio.get_running_loop().create_task(self._test_events(session))
        elif "TestEvent" not in session.events and session.test_task is not None:
            session.test_task.cancel()
            session.test_task = None
        return {"subscribedEventCount": len(session.events),
                "subscribedEvents": sorted(session.events)}

    # ------------------------------------------------------------ background

    async def _test_events(self, session: _Session) -> None:
        counter = 0
        while True:
            await asyncio.sleep(self.test_event_s)
            counter += 1
            message = str(session.events.get("TestEvent", {}).get("testMessageForEvent", ""))
            await self._send(session, "TestEvent",
                             {"yourTestMessage": message, "counter": counter},
                             request_id=uuid.uuid4().hex)

    async def _expire_parameters(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = time.time_ns()
            for param, (owner, last) in list(self._owners.items()):
                if now - last > PARAMETER_TIMEOUT_S * 1e9:
                    del self._owners[param]
                    self.values[param] = DEFAULT_PARAMETERS[param]
                    plugin = self._sessions[owner].plugin if owner in self._sessions else "?"
                    self.lapses.append((now, param, plugin))

    async def _broadcast(self) -> None:
        assert self.broadcast_port is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            while True:
                frame = {"apiName": API_NAME, "apiVersion": "1.0",
                         "timestamp": time.time_ns() // 1_000_000,
                         "messageType": "VTubeStudioAPIStateBroadcast",
                         "requestID": "VTubeStudioAPIStateBroadcast",
                         "data": {"active": True, "port": self.port,
                                  "instanceID": self.instance_id,
                                  "windowTitle": self.window_title}}
                with contextlib.suppress(OSError):
                    sock.sendto(json.dumps(frame).encode(), ("127.0.0.1", self.broadcast_port))
                await asyncio.sleep(self.broadcast_interval_s)
        finally:
            sock.close()
