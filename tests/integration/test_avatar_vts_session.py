"""One avatar's VTS link: reconnect with backoff after a restart, discovery by UDP broadcast,
denial, and tokens kept out of the logs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakes.vts import FakeModel, FakeVts
from helpers.ports import free_port

from bus.testing import wait_until
from nodes.avatar.puppet import DRIVEN_PARAMETERS
from nodes.avatar.vts.discovery import Discovery
from nodes.avatar.vts.session import Backoff, SessionConfig, VtsSession
from nodes.avatar.vts.tokens import TokenStore


@contextlib.asynccontextmanager
async def running(session: VtsSession) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(session.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await session.close()


@contextlib.asynccontextmanager
async def ticking(session: VtsSession, hz: float = 60.0) -> AsyncIterator[None]:
    """Inject every driven parameter at ``hz``, as the node's loop does; MouthOpen counts the
    frames, so every frame VTS applies shows as a new value in its series."""

    async def loop() -> None:
        for frame in itertools.count(1):
            await session.inject({**dict.fromkeys(DRIVEN_PARAMETERS, 0.5),
                                  "MouthOpen": frame % 1000 / 1000})
            await asyncio.sleep(1 / hz)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def refusals(vts: FakeVts, error_id: int) -> int:
    return vts.errors.count(("InjectParameterDataRequest", error_id))


def warnings_naming(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and name in r.getMessage()]


def config(tmp_path: Path, port: int, **kw: object) -> SessionConfig:
    return SessionConfig("aria", TokenStore(tmp_path / "aria.token"), host="127.0.0.1",
                         port=port, backoff=Backoff(first_s=0.05, max_s=0.4), **kw)  # type: ignore[arg-type]


class TestBackoff:
    def test_doubles_to_max_and_resets(self) -> None:
        backoff = Backoff(first_s=0.25, max_s=1.0)
        assert [backoff.next() for _ in range(5)] == [0.25, 0.5, 1.0, 1.0, 1.0]
        backoff.reset()
        assert backoff.next() == 0.25


class TestReconnect:
    async def test_restart_mid_show(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        states: list[str] = []
        readies: list[str] = []

        async def on_ready(session: VtsSession) -> None:
            readies.append(session.model)

        async with FakeVts() as vts:
            session = VtsSession(config(tmp_path, vts.port), on_ready=on_ready,
                                 on_state=lambda state, detail: states.append(state))
            with caplog.at_level(logging.DEBUG):
                async with running(session):
                    await wait_until(lambda: session.ready, 5, what="first session")
                    await vts.restart(downtime_s=0.6)
                    await wait_until(lambda: session.sessions == 2 and session.ready, 10,
                                     what="the session to come back")
                    assert await session.inject({"MouthOpen": 0.3})
                    await wait_until(lambda: vts.series("MouthOpen"), 5, what="an injection")
            assert vts.restarts == 1
            assert vts.token_requests == 1            # token reused after the restart
            assert vts.auth_results == [True, True]   # but authenticated every session
            assert readies == ["Hiyori", "Hiyori"]
            assert states.count("ready") == 2 and "down" in states
            token = session.config.token_store.load()
            assert token is not None and token not in caplog.text

    async def test_waits_for_vts_to_appear(self, tmp_path: Path) -> None:
        port = free_port()
        session = VtsSession(config(tmp_path, port))
        async with running(session):
            await asyncio.sleep(0.3)  # several failed attempts with backoff
            assert session.state == "down" and not session.ready
            async with FakeVts(port=port):
                await wait_until(lambda: session.ready, 5, what="the late VTS")

    async def test_denied_reports_and_waits(self, tmp_path: Path) -> None:
        async with FakeVts(allow=False) as vts:
            session = VtsSession(config(tmp_path, vts.port, denied_retry_s=30.0))
            async with running(session):
                await wait_until(lambda: session.state == "denied", 5, what="denial")
                await asyncio.sleep(0.3)
                assert vts.token_requests == 1  # no popup storm: it waits before asking again

    async def test_parameter_set_by_another_plugin_left_out(self, tmp_path: Path) -> None:
        async with FakeVts() as vts:
            other = VtsSession(SessionConfig("other", TokenStore(tmp_path / "o"),
                                             host="127.0.0.1", port=vts.port))
            mine = VtsSession(config(tmp_path, vts.port))
            async with running(other), running(mine):
                await wait_until(lambda: other.ready and mine.ready, 5, what="two sessions")
                await other.inject({"MouthOpen": 0.2})
                await wait_until(lambda: vts.series("MouthOpen"), 5, what="first injection")
                await mine.inject({"MouthOpen": 0.9, "FaceAngleX": 5.0})
                await wait_until(lambda: mine.contested, 5, what="the contested parameter")
                assert mine.contested == {"MouthOpen"}
                # the rest of the avatar keeps moving; the contested one is left out
                await mine.inject({"MouthOpen": 0.9, "FaceAngleX": 6.0})
                await wait_until(lambda: (vts.series("FaceAngleX") or [(0, 0)])[-1][1] == 6.0,
                                 5, what="the other parameter")
            assert ("InjectParameterDataRequest", 454) in vts.errors
            assert {v for _, v in vts.series("MouthOpen")} == {0.2}  # never overridden


class TestRefusedParameters:
    """VTS refuses a whole injection when one parameter is missing (453) or set by another
    plugin (454): the session finds which, leaves them out, and the rest keeps moving."""

    async def test_missing_parameters_left_out_mouth_keeps_moving(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        missing = {"EyeOpenLeft", "EyeOpenRight"}  # a VTS version without them
        async with FakeVts(missing_parameters=missing) as vts:
            session = VtsSession(config(tmp_path, vts.port))
            with caplog.at_level(logging.INFO):
                async with running(session), ticking(session):
                    await wait_until(lambda: len(vts.series("MouthOpen")) >= 30, 10,
                                     what="the mouth to move despite the missing parameters")
                    assert session.missing == missing
                    # every frame sent once they were known is accepted: no refusal at 60 Hz
                    client = session.client
                    assert client is not None
                    await wait_until(lambda: client.in_flight == 0, 5, what="answers")
                    refused_before, received = refusals(vts, 453), len(vts.series("MouthOpen"))
                    await wait_until(lambda: len(vts.series("MouthOpen")) >= received + 60, 10,
                                     what="60 more frames")
                    assert refusals(vts, 453) == refused_before
            assert vts.series("EyeOpenLeft") == [] and vts.series("FaceAngleX")
            lines = warnings_naming(caplog, "EyeOpenLeft")
            assert len(lines) == 1, lines  # said once, not every frame
            assert "EyeOpenRight" in lines[0] and "453" in lines[0]

    async def test_model_change_probes_again(self, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
        async with FakeVts(missing_parameters={"EyeOpenLeft"}) as vts:
            session = VtsSession(config(tmp_path, vts.port))
            with caplog.at_level(logging.INFO):
                async with running(session), ticking(session):
                    await wait_until(lambda: session.missing == {"EyeOpenLeft"}, 10,
                                     what="the missing parameter")
                    vts.missing_parameters.clear()  # e.g. a plugin created it meanwhile
                    await vts.load_model(FakeModel(name="Mao"))
                    await wait_until(lambda: vts.series("EyeOpenLeft"), 10,
                                     what="the parameter injected after the model change")
                    assert session.missing == set()
                    vts.missing_parameters.add("EyeOpenLeft")
                    await vts.load_model(FakeModel(name="Hiyori"))
                    await wait_until(lambda: session.missing == {"EyeOpenLeft"}, 10,
                                     what="the parameter found missing again")
            assert len(warnings_naming(caplog, "EyeOpenLeft")) == 1  # the same news: once

    async def test_new_session_probes_again(self, tmp_path: Path) -> None:
        async with FakeVts(missing_parameters={"EyeOpenLeft"}) as vts:
            session = VtsSession(config(tmp_path, vts.port))
            async with running(session), ticking(session):
                await wait_until(lambda: session.missing == {"EyeOpenLeft"}, 10,
                                 what="the missing parameter")
                vts.missing_parameters = {"Brows"}  # another VTS version after the restart
                await vts.restart(downtime_s=0.2)
                await wait_until(lambda: session.missing == {"Brows"}, 10,
                                 what="the new session's missing parameter")
                await wait_until(lambda: vts.series("EyeOpenLeft"), 10,
                                 what="the parameter this version has")

    async def test_missing_and_contested_together(self, tmp_path: Path) -> None:
        async with FakeVts(missing_parameters={"EyeOpenLeft"}) as vts:
            other = VtsSession(SessionConfig("other", TokenStore(tmp_path / "o"),
                                             host="127.0.0.1", port=vts.port))
            mine = VtsSession(config(tmp_path, vts.port))
            async with running(other), running(mine):
                await wait_until(lambda: other.ready and mine.ready, 5, what="two sessions")
                await other.inject({"MouthSmile": 0.2})
                await wait_until(lambda: vts.series("MouthSmile"), 5, what="the other's value")
                async with ticking(mine):
                    await wait_until(lambda: len(vts.series("MouthOpen")) >= 30, 10,
                                     what="the mouth to move")
                    assert mine.missing == {"EyeOpenLeft"}
                    assert mine.contested == {"MouthSmile"}
            assert {v for _, v in vts.series("MouthSmile")} == {0.2}


class TestHostileVts:
    async def test_garbage_neither_ends_the_session_nor_grows_its_counters(
        self, tmp_path: Path
    ) -> None:
        async with FakeVts() as vts:
            session = VtsSession(config(tmp_path, vts.port))
            async with running(session):
                await wait_until(lambda: session.ready, 5, what="session")
                counters = set(session.counters)
                for i in range(100):  # events of names nobody subscribed to
                    await vts.send_raw(json.dumps({"messageType": f"Event{i}", "data": {},
                                                   "requestID": str(i)}))
                for frame in ("not json", b"\x00\xff", '{"messageType": 7}', "[]"):
                    await vts.send_raw(frame)
                # an injection answered with an APIError whose id is not a number
                vts.answer_next_with(lambda request_id: json.dumps({
                    "messageType": "APIError", "requestID": request_id,
                    "data": {"errorID": "x"}}))
                assert await session.inject({"MouthOpen": 0.5})
                await wait_until(lambda: session.counters["inject_errors"] == 1, 5,
                                 what="the malformed answer")
                assert await session.inject({"MouthOpen": 0.6})
                # the first never reached VTS's values; the next one does
                await wait_until(lambda: [v for _, v in vts.series("MouthOpen")] == [0.6], 5,
                                 what="the next injection")
                assert session.ready and session.sessions == 1 and vts.sessions_opened == 1
                assert session.counters["bad_frames"] == 5
                assert session.counters["event:other"] == 100
                assert set(session.counters) - counters <= {
                    "event:other", "events", "bad_frames", "inject_errors", "injected"}


    @pytest.mark.parametrize(
        ("request_type", "data"),
        [
            # answers of the right type and the wrong shape, to each step of the set-up
            ("AuthenticationTokenRequest", {"authenticationToken": "t\u00f6ken\n"}),
            ("AuthenticationTokenRequest", {"authenticationToken": {"a": 1}}),
            ("AuthenticationRequest", {"authenticated": "yes"}),
            ("CurrentModelRequest", {"modelLoaded": True, "modelName": ["x"]}),
            ("HotkeysInCurrentModelRequest", {"availableHotkeys": 5}),
            ("HotkeysInCurrentModelRequest", {"availableHotkeys": {"a": 1}}),
            ("ExpressionStateRequest", {"expressions": 5}),
        ],
    )
    async def test_malformed_set_up_answer_session_comes_back(
        self, tmp_path: Path, request_type: str, data: dict[str, object]
    ) -> None:
        response_type = request_type.removesuffix("Request") + "Response"

        async def on_ready(session: VtsSession) -> None:
            await session.active_expressions()

        async with FakeVts() as vts:
            vts.answer_next_with(lambda request_id: json.dumps({
                "messageType": response_type, "requestID": request_id, "data": data}),
                request_type)
            session = VtsSession(config(tmp_path, vts.port), on_ready=on_ready)
            async with running(session) as task:
                await wait_until(lambda: session.ready and request_type in vts.requests, 10,
                                 what="a session despite the malformed answer")
                assert await session.inject({"MouthOpen": 0.5})
                await wait_until(lambda: vts.series("MouthOpen"), 5, what="an injection")
                assert not task.done()
                assert all(isinstance(h, dict) for h in session.hotkeys)
                assert isinstance(session.model, str)
            token = session.config.token_store.load()
            assert token is None or token.isascii()


    async def test_a_bug_in_a_session_is_logged_and_retried(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        class BrokenOnce(TokenStore):
            failed = False

            def load(self) -> str | None:
                if not self.failed:
                    self.failed = True
                    raise RuntimeError("a bug")
                return super().load()

        def on_state(state: str, detail: str) -> None:
            raise ValueError("a bug in the callback")

        async with FakeVts() as vts:
            session = VtsSession(SessionConfig(
                "aria", BrokenOnce(tmp_path / "t"), host="127.0.0.1", port=vts.port,
                backoff=Backoff(first_s=0.05)), on_state=on_state)
            with caplog.at_level(logging.ERROR):
                async with running(session) as task:
                    await wait_until(lambda: session.ready, 10, what="the retried session")
                    assert not task.done()
            assert session.counters["session_failures"] == 1
            assert "RuntimeError: a bug" in caplog.text
            assert "on_state callback of aria failed" in caplog.text


class TestModelAndAccess:
    async def test_model_change_read_again(self, tmp_path: Path) -> None:
        models: list[str] = []

        async def on_ready(session: VtsSession) -> None:
            models.append(session.model)

        async with FakeVts() as vts:
            session = VtsSession(config(tmp_path, vts.port), on_ready=on_ready)
            async with running(session):
                await wait_until(lambda: session.ready, 5, what="session")
                await vts.load_model(FakeModel(name="Mao", hotkeys=[]))
                await wait_until(lambda: models == ["Hiyori", "Mao"], 5, what="model event")
                assert session.hotkeys == []

    async def test_revoked_mid_session_asks_again(self, tmp_path: Path) -> None:
        async with FakeVts() as vts:
            session = VtsSession(config(tmp_path, vts.port))
            async with running(session):
                await wait_until(lambda: session.ready, 5, what="session")
                vts.revoke()
                await session.inject({"MouthOpen": 0.5})  # answered with error 50
                await wait_until(lambda: session.sessions == 2 and session.ready, 10,
                                 what="a new authenticated session")
            assert vts.token_requests == 2  # the user was asked again
            assert ("InjectParameterDataRequest", 50) in vts.errors


class TestDiscovery:
    async def test_finds_instance_by_broadcast(self, tmp_path: Path) -> None:
        udp = free_port("udp")
        discovery = Discovery()
        await discovery.start(udp, host="127.0.0.1")
        try:
            async with FakeVts(broadcast_port=udp, broadcast_interval_s=0.1,
                               window_title="VTube Studio Window 2") as vts:
                found = await discovery.wait(5.0, match="VTube Studio Window 2")
                assert found is not None and found.port == vts.port
                session = VtsSession(config(tmp_path, 0, match="VTube Studio Window 2"),
                                     discovery=discovery)
                async with running(session):
                    await wait_until(lambda: session.ready, 5, what="discovered session")
                assert vts.sessions_opened == 1
        finally:
            discovery.close()

    async def test_two_instances_ordered_by_port(self) -> None:
        udp = free_port("udp")
        discovery = Discovery()
        await discovery.start(udp, host="127.0.0.1")
        try:
            async with FakeVts(broadcast_port=udp, broadcast_interval_s=0.1) as a, \
                    FakeVts(broadcast_port=udp, broadcast_interval_s=0.1) as b:
                await wait_until(lambda: len(discovery.instances()) == 2, 5,
                                 what="two broadcasts")
                ports = [i.port for i in discovery.instances()]
                assert ports == sorted([a.port, b.port])
                assert discovery.find(index=1) is not None
                assert discovery.find(index=2) is None
        finally:
            discovery.close()
