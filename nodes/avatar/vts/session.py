"""One avatar's link to its VTube Studio instance, kept alive across VTS restarts.

`VtsSession.run` loops: find the instance (configured port, or the UDP broadcast), connect,
authenticate with the stored token (asking for one if needed), subscribe to model events,
read the model and its hotkeys, call ``on_ready`` (the node restores the avatar's emotion)
and serve until the connection drops; then wait with exponential backoff and start again.
Parameter injection is fire-and-forget (`inject`): answers are checked in callbacks, so the
60 Hz loop never waits on VTS. VTS refuses a whole injection for one parameter it lacks (453)
or another plugin sets (454) without saying which: the session finds them (`refusals.py`),
leaves them out, says so once, and looks again after a model change or a new session (missing)
or every `CONTESTED_RETRY_S` (contested).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from nodes.avatar.vts.client import (
    ERROR_NEEDS_AUTH,
    ERROR_TOKEN_DENIED,
    VtsApiError,
    VtsAuthError,
    VtsClient,
    VtsConnectionError,
    VtsError,
)
from nodes.avatar.vts.discovery import Discovery
from nodes.avatar.vts.refusals import find_refused
from nodes.avatar.vts.tokens import TokenStore

__all__ = ["Backoff", "SessionConfig", "VtsSession"]

ERROR_PARAM_MISSING = 453
"""``InjectDataParamNameNotFound``: this VTS has no such parameter (an older version, or a
custom parameter no plugin created)."""
ERROR_PARAM_OWNED = 454
"""``InjectDataParamControlledByOtherPlugin``: another plugin already "sets" the parameter."""
REFUSALS = (ERROR_PARAM_MISSING, ERROR_PARAM_OWNED)
"""Errors that refuse a whole injection for one of its parameters."""
WARNED_MAX = 256
"""Distinct "logged once" warnings remembered; past that they go to the debug log (VTS's
error texts are outside input: the memory of them stays bounded)."""
MAX_IN_FLIGHT = 120
"""Unanswered injections allowed (2 s at 60 Hz) before ticks are dropped instead of queued."""
EVENTS = ("ModelLoadedEvent", "HotkeyTriggeredEvent")
CONTESTED_RETRY_S = 10.0
"""How long parameters owned by another plugin are left out before trying them again."""


class _ModelAnswer(msgspec.Struct):
    modelLoaded: bool = False
    modelName: str = ""


class _HotkeysAnswer(msgspec.Struct):
    availableHotkeys: list[Any] = []
    """Entries that are not objects are skipped, not a reason to refuse the whole list."""


class _ExpressionsAnswer(msgspec.Struct):
    expressions: list[Any] = []


@dataclass
class Backoff:
    """Exponential reconnect delays: ``first_s``, doubling up to ``max_s``; `reset` after a
    good session."""

    first_s: float = 0.25
    max_s: float = 5.0
    _next: float = 0.0

    def next(self) -> float:
        delay = self._next or self.first_s
        self._next = min(self.max_s, delay * 2.0)
        return delay

    def reset(self) -> None:
        self._next = 0.0


@dataclass
class SessionConfig:
    """Where one persona's VTS is and how the plugin introduces itself."""

    persona: str
    token_store: TokenStore
    host: str = "localhost"
    port: int = 0
    """0: find the instance by its UDP broadcast."""
    match: str = ""
    """With discovery: the window title or instance id to pick (else by position)."""
    index: int = 0
    plugin_name: str = "vtshow avatar"
    plugin_developer: str = "vtshow"
    denied_retry_s: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)


StateCallback = Callable[[str, str], None]
"""(state, detail): state is ``searching``, ``connecting``, ``ready``, ``denied`` or ``down``."""


class VtsSession:
    """Keeps one persona connected and authenticated; see the module docstring."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        discovery: Discovery | None = None,
        on_ready: Callable[[VtsSession], Awaitable[None]] | None = None,
        on_state: StateCallback | None = None,
    ):
        self.config = config
        self.discovery = discovery
        self.on_ready = on_ready
        self.on_state = on_state
        self.log = logging.getLogger(f"avatar.vts.{config.persona}")
        self.client: VtsClient | None = None
        self.ready = False
        self.state = "down"
        self._said_down = False
        self.model = ""
        self.hotkeys: list[dict[str, Any]] = []
        self.sessions = 0
        self.counters: Counter[str] = Counter()
        self._warned: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.missing: set[str] = set()
        """Parameters this VTS lacks: left out until the model or the session changes."""
        self.contested: set[str] = set()
        """Parameters another plugin "sets": left out of injections for a while."""
        self._contested_since = 0.0
        self._probing: asyncio.Task[Any] | None = None
        self._refusals_epoch = 0
        """Bumped when what was found is forgotten: a search started before reports nothing."""
        self._last_values: dict[str, float] = {}

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect, serve, reconnect: until cancelled."""
        while True:
            delay = self.config.backoff.next()
            try:
                await self._serve_once()
            except VtsAuthError as exc:
                self._set_state("denied", str(exc))
                self.log.error("%s", exc)
                delay = self.config.denied_retry_s
            except (VtsError, TimeoutError, OSError) as exc:
                self._set_state("down", str(exc))
                # said once each time the link goes down, not at every retry of a VTS that is off
                log = self.log.debug if self._said_down else self.log.info
                self._said_down = True
                log("VTS for %s unavailable: %s; retrying every few seconds",
                    self.config.persona, exc)
            except Exception as exc:  # a bug must not end this avatar's link for the show
                self.counters["session_failures"] += 1
                self._set_state("down", f"internal error: {exc!r}")
                self.log.exception("VTS session of %s failed; retrying", self.config.persona)
            finally:
                self.ready = False
                if self._probing is not None:
                    self._probing.cancel()
                    self._probing = None
                if self.client is not None:
                    await self.client.close()
                    self.client = None
            await asyncio.sleep(delay)

    async def _serve_once(self) -> None:
        url = await self._find()
        self._set_state("connecting", url)
        client = self.client = VtsClient(url, on_event=self._on_event, counters=self.counters)
        await client.connect()
        await client.authenticate(self.config.token_store, self.config.plugin_name,
                                  self.config.plugin_developer)
        for event in EVENTS:
            await client.request("EventSubscriptionRequest",
                                 {"eventName": event, "subscribe": True, "config": {}})
        await self._read_model()
        # another VTS (version) may have other parameters, and other plugins: look again
        self._forget_refused(self.missing, self.contested)
        self.sessions += 1
        self.ready = True
        self.config.backoff.reset()
        self._set_state("ready", self.model)
        await self._call_on_ready()
        await client.wait_closed()
        self._set_state("down", "VTube Studio closed the connection")

    async def _find(self) -> str:
        if self.config.port:
            return f"ws://{self.config.host}:{self.config.port}"
        if self.discovery is None:
            raise VtsConnectionError("no port configured and discovery is off: set `port` "
                                     "for this avatar or enable discovery")
        self._set_state("searching", "listening for VTube Studio broadcasts")
        found = await self.discovery.wait(5.0, match=self.config.match, index=self.config.index)
        if found is None:
            wanted = f"matching {self.config.match!r}" if self.config.match else \
                f"number {self.config.index + 1}"
            raise VtsConnectionError(f"no VTube Studio broadcast heard for the instance "
                                     f"{wanted}; is VTS running with the API on?")
        return found.url

    async def _read_model(self) -> None:
        assert self.client is not None
        model = await self.client.request_checked("CurrentModelRequest", _ModelAnswer)
        self.model = model.modelName if model.modelLoaded else ""
        hotkeys = await self.client.request_checked("HotkeysInCurrentModelRequest",
                                                    _HotkeysAnswer)
        self.hotkeys = [h for h in hotkeys.availableHotkeys if isinstance(h, dict)]

    async def active_expressions(self) -> set[str]:
        """The expressions VTS reports active on the current model (empty if it cannot say)."""
        if self.client is None:
            return set()
        try:
            state = await self.client.request_checked("ExpressionStateRequest",
                                                      _ExpressionsAnswer, {"details": False})
        except (VtsError, TimeoutError):
            return set()
        return {str(e.get("file")) for e in state.expressions
                if isinstance(e, dict) and e.get("active")}

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    # ------------------------------------------------------------ talking to VTS

    async def inject(self, values: dict[str, float], *, face_found: bool = True) -> bool:
        """Send parameter values ("set" mode) without waiting; False when not sent.

        Parameters VTS refused are left out (it would refuse the whole request): those it
        lacks (453) until the model or session changes, those another plugin sets (454) for
        `CONTESTED_RETRY_S`."""
        client = self.client
        if not self.ready or client is None or client.in_flight > MAX_IN_FLIGHT:
            self.counters["inject_skipped"] += 1
            return False
        self._last_values = values
        if self.contested and self._probing is None:
            loop = asyncio.get_running_loop()
            if loop.time() - self._contested_since > CONTESTED_RETRY_S:
                self.contested.clear()  # the other plugin may have stopped: try again
        left_out = self.missing | self.contested
        sent = {k: round(v, 4) for k, v in values.items() if k not in left_out}
        if not sent:
            return False
        payload = {"faceFound": face_found, "mode": "set",
                   "parameterValues": [{"id": k, "value": v} for k, v in sent.items()]}
        try:
            future = await client.send("InjectParameterDataRequest", payload)
        except VtsConnectionError:
            self.counters["inject_skipped"] += 1
            return False
        future.add_done_callback(functools.partial(self._injected, sent))
        self.counters["injected"] += 1
        return True

    async def perform(self, requests: list[tuple[str, dict[str, Any]]]) -> None:
        """Send requests in order (expressions, hotkeys); failures are logged, not raised."""
        for message_type, data in requests:
            if not self.ready or self.client is None:
                return
            try:
                await self.client.request(message_type, data)
                self.counters[message_type] += 1
            except VtsApiError as exc:
                self.counters["request_errors"] += 1
                self._warn_once(f"{exc} ({data})")
            except (VtsConnectionError, TimeoutError) as exc:
                self.log.info("%s not sent: %s", message_type, exc)
                return

    def _injected(self, sent: dict[str, float], future: asyncio.Future[dict[str, Any]]) -> None:
        exc = future.exception()
        if exc is None or isinstance(exc, VtsConnectionError):
            return
        self.counters["inject_errors"] += 1
        if isinstance(exc, VtsApiError):
            if exc.error_id in REFUSALS:
                # one search at a time; an answer to a frame sent before the refused ones were
                # known needs none (at 60 Hz a few are in flight when the search ends)
                if self._probing is None and not sent.keys() & (self.missing | self.contested):
                    self._probing = self._in_background(self._find_refused(sent))
            elif exc.error_id in (ERROR_NEEDS_AUTH, ERROR_TOKEN_DENIED):
                # access revoked mid-session: drop the connection and authenticate again
                self.log.warning("VTS for %s revoked the session (%s): reconnecting",
                                 self.config.persona, exc.message)
                if self.client is not None:
                    self._in_background(self.client.close())
            else:
                self._warn_once(str(exc))

    async def _find_refused(self, sent: dict[str, float]) -> None:
        """Which of a refused injection's parameters does VTS refuse? Then leave those out."""
        epoch = self._refusals_epoch
        try:
            refused = await find_refused(list(sent), functools.partial(self._inject_alone, sent))
        except (VtsConnectionError, TimeoutError):
            return
        finally:
            self._probing = None
        if epoch != self._refusals_epoch:  # the model or session changed meanwhile
            return
        missing = {name for name, error in refused.items() if error == ERROR_PARAM_MISSING}
        contested = {name for name, error in refused.items() if error == ERROR_PARAM_OWNED}
        self.missing |= missing
        if contested:
            self.contested |= contested
            self._contested_since = asyncio.get_running_loop().time()
        self._count_refused()
        if missing:
            self._warn_once(f"VTube Studio has no parameter {', '.join(sorted(missing))} "
                            f"(error {ERROR_PARAM_MISSING}: an older VTS, or a custom parameter "
                            "nobody created): left out, the rest of the avatar keeps moving")
        if contested:
            self._warn_once(f"another plugin already sets {', '.join(sorted(contested))} "
                            f"(error {ERROR_PARAM_OWNED}): this avatar leaves them out (close "
                            "that plugin or map them elsewhere)")

    async def _inject_alone(self, sent: dict[str, float], names: Sequence[str]) -> int | None:
        """Inject ``names`` alone (their latest values): the refusal's error id, or None."""
        client = self.client
        if client is None or not self.ready:
            raise VtsConnectionError("the session ended during the search")
        values = [{"id": name, "value": round(self._last_values.get(name, sent[name]), 4)}
                  for name in names]
        try:
            await client.request("InjectParameterDataRequest",
                                 {"faceFound": True, "mode": "set", "parameterValues": values})
        except VtsApiError as exc:
            if exc.error_id in REFUSALS:
                return exc.error_id
            self._warn_once(str(exc))
        return None

    def _forget_refused(self, *found: set[str]) -> None:
        """Forget what was found refused, to look again (a search under way reports nothing)."""
        for names in found:
            names.clear()
        self._refusals_epoch += 1
        self._count_refused()

    def _count_refused(self) -> None:
        self.counters["missing_parameters"] = len(self.missing)
        self.counters["contested_parameters"] = len(self.contested)

    def _warn_once(self, text: str) -> None:
        if text in self._warned:
            return
        if len(self._warned) >= WARNED_MAX:
            self.log.debug("VTS for %s: %s", self.config.persona, text)
            return
        self._warned.add(text)
        self.log.warning("VTS for %s: %s (logged once)", self.config.persona, text)

    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        # event names come from VTS: only the subscribed ones get a counter of their own
        self.counters[f"event:{event if event in EVENTS else 'other'}"] += 1
        if event == "ModelLoadedEvent" and data.get("modelLoaded") and self.ready:
            self._forget_refused(self.missing)  # another model: look for them again
            self._in_background(self._model_changed())

    def _in_background(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _model_changed(self) -> None:
        with contextlib.suppress(VtsError, TimeoutError):
            await self._read_model()
            self._set_state("ready", self.model)
            await self._call_on_ready()

    async def _call_on_ready(self) -> None:
        if self.on_ready is None:
            return
        try:
            await self.on_ready(self)
        except (VtsError, TimeoutError) as exc:
            self.log.info("VTS for %s: restoring the avatar failed: %s", self.config.persona,
                          exc)
        except Exception:  # a bug in the callback must not end the session loop
            self.log.exception("on_ready callback of %s failed", self.config.persona)

    def _set_state(self, state: str, detail: str) -> None:
        changed = state != self.state
        self.state = state
        if state == "ready":
            self._said_down = False
        if changed and self.on_state is not None:
            try:
                self.on_state(state, detail)
            except Exception:  # a bug in the callback must not end the session loop
                self.log.exception("on_state callback of %s failed", self.config.persona)
