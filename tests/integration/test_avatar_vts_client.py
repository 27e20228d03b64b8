"""The VTS client against the loopback stand-in: tokens, gating, error ids, the one-second
rule, one "set" owner, events interleaved with responses."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakes.vts import FakeVts

from bus.testing import wait_until
from nodes.avatar.vts.client import VtsApiError, VtsAuthError, VtsClient, VtsConnectionError
from nodes.avatar.vts.tokens import TokenStore

PLUGIN = ("vtshow avatar", "vtshow")


@pytest.fixture
async def vts() -> AsyncIterator[FakeVts]:
    async with FakeVts(test_event_s=0.005) as fake:
        yield fake


async def connected(fake: FakeVts, store: TokenStore | None = None) -> VtsClient:
    client = VtsClient(fake.url)
    await client.connect()
    if store is not None:
        await client.authenticate(store, *PLUGIN)
    return client


class TestTokens:
    async def test_first_session_asks_then_reuses(self, vts: FakeVts, tmp_path: Path) -> None:
        store = TokenStore(tmp_path / "aria.token")
        first = await connected(vts, store)
        assert vts.token_requests == 1
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
        await first.close()
        second = await connected(vts, store)  # a new session authenticates again...
        assert vts.token_requests == 1        # ...with the stored token, no new popup
        assert vts.auth_results == [True, True]
        await second.close()

    async def test_denied_is_an_auth_error(self, tmp_path: Path) -> None:
        async with FakeVts(allow=False) as fake:
            client = await connected(fake)
            with pytest.raises(VtsAuthError, match="denied access to plugin 'vtshow avatar'"):
                await client.authenticate(TokenStore(tmp_path / "t"), *PLUGIN)
            assert ("AuthenticationTokenRequest", 50) in fake.errors
            assert not (tmp_path / "t").exists()
            await client.close()

    async def test_revoked_token_replaced(self, vts: FakeVts, tmp_path: Path) -> None:
        store = TokenStore(tmp_path / "t")
        await (await connected(vts, store)).close()
        old = store.load()
        vts.revoke()
        client = await connected(vts, store)
        assert vts.auth_results[1] is False  # the stored token was refused...
        assert store.load() not in (None, old)  # ...and a new one saved
        assert client.authenticated
        await client.close()

    async def test_bad_plugin_name_error_id(self, vts: FakeVts, tmp_path: Path) -> None:
        client = await connected(vts)
        with pytest.raises(VtsApiError, match="VTS error 52") as info:
            await client.authenticate(TokenStore(tmp_path / "t"), "ab", "vtshow")
        assert info.value.error_id == 52
        await client.close()


class TestRules:
    async def test_requests_gated_until_authenticated(self, vts: FakeVts, tmp_path: Path) -> None:
        client = await connected(vts)
        state = await client.request("APIStateRequest")  # allowed before authentication
        assert state["currentSessionAuthenticated"] is False
        with pytest.raises(VtsApiError, match="VTS error 8") as info:
            await client.request("CurrentModelRequest")
        assert info.value.error_id == 8
        await client.authenticate(TokenStore(tmp_path / "t"), *PLUGIN)
        assert (await client.request("CurrentModelRequest"))["modelName"] == "Hiyori"
        await client.close()

    @pytest.mark.parametrize(
        ("values", "mode", "error_id"),
        [
            ([{"id": "NoSuchParam", "value": 1}], "set", 453),
            ([{"id": "MouthOpen", "value": 2e6}], "set", 451),     # out of range
            ([{"id": "MouthOpen", "value": 1, "weight": 2}], "set", 452),
            ([], "set", 450),                                      # no data
            ([{"id": "MouthOpen", "value": 1}], "replace", 455),   # unknown mode
        ],
    )
    async def test_injection_errors(self, vts: FakeVts, tmp_path: Path,
                                    values: list[dict[str, object]], mode: str,
                                    error_id: int) -> None:
        client = await connected(vts, TokenStore(tmp_path / "t"))
        with pytest.raises(VtsApiError) as info:
            await client.request("InjectParameterDataRequest",
                                 {"mode": mode, "parameterValues": values})
        assert info.value.error_id == error_id
        await client.close()

    async def test_one_set_owner_per_parameter(self, vts: FakeVts, tmp_path: Path) -> None:
        first = await connected(vts, TokenStore(tmp_path / "a"))
        second = await connected(vts, TokenStore(tmp_path / "b"))
        set_mouth = {"mode": "set", "parameterValues": [{"id": "MouthOpen", "value": 0.5}]}
        await first.request("InjectParameterDataRequest", set_mouth)
        with pytest.raises(VtsApiError, match="controlled by another plugin") as info:
            await second.request("InjectParameterDataRequest", set_mouth)
        assert info.value.error_id == 454
        # "add" is open to everyone
        await second.request("InjectParameterDataRequest",
                             {"mode": "add", "parameterValues": [{"id": "MouthOpen",
                                                                  "value": 0.1}]})
        await first.close()
        await second.close()

    async def test_value_lapses_after_one_second(self, vts: FakeVts, tmp_path: Path) -> None:
        client = await connected(vts, TokenStore(tmp_path / "t"))
        inject = {"parameterValues": [{"id": "FaceAngleX", "value": 12.0}]}
        for _ in range(6):  # re-sent every 0.25 s: kept
            await client.request("InjectParameterDataRequest", inject)
            await asyncio.sleep(0.25)
        assert vts.lapses == []
        assert vts.values["FaceAngleX"] == 12.0
        await wait_until(lambda: vts.lapses, 3.0, what="the parameter to lapse")
        assert vts.lapses[0][1] == "FaceAngleX"
        assert vts.values["FaceAngleX"] == 0.0
        await client.close()


class TestMatching:
    async def test_events_interleaved_with_responses(self, vts: FakeVts, tmp_path: Path) -> None:
        events: list[str] = []
        client = VtsClient(vts.url, on_event=lambda name, data: events.append(name))
        await client.connect()
        await client.authenticate(TokenStore(tmp_path / "t"), *PLUGIN)
        for name in ("TestEvent", "HotkeyTriggeredEvent"):
            await client.request("EventSubscriptionRequest", {"eventName": name,
                                                             "subscribe": True})
        # many requests in flight at once while events pour in every 5 ms; the hotkey's event
        # is sent *before* its response
        calls = []
        for i in range(60):
            calls.append(client.request("HotkeyTriggerRequest", {"hotkeyID": "Wave"}))
            calls.append(client.request("CurrentModelRequest"))
            calls.append(client.request("APIStateRequest"))
            if i % 10 == 0:
                await asyncio.sleep(0.01)
        answers = await asyncio.gather(*calls)
        for i in range(0, len(answers), 3):
            assert answers[i]["hotkeyID"] == "hk-wave"
            assert answers[i + 1]["modelName"] == "Hiyori"
            assert answers[i + 2]["active"] is True
        assert events.count("HotkeyTriggeredEvent") == 60
        assert "TestEvent" in events
        assert client.counters["unmatched"] == 0
        await client.close()

    async def test_odd_frames_tolerated(self, vts: FakeVts, tmp_path: Path) -> None:
        events: list[tuple[str, dict[str, object]]] = []
        client = VtsClient(vts.url, on_event=lambda name, data: events.append((name, data)))
        await client.connect()
        await client.authenticate(TokenStore(tmp_path / "t"), *PLUGIN)
        await vts.send_raw("this is not JSON")
        await vts.send_raw('{"apiName": "VTubeStudioPublicAPI", "messageType": "NewEvent", '
                           '"data": null, "requestID": "x", "brandNew": true}')
        await vts.send_raw('{"messageType": "CurrentModelResponse", "requestID": "nobody"}')
        assert (await client.request("APIStateRequest"))["active"] is True
        assert client.counters["bad_frames"] == 1
        assert client.counters["unmatched"] == 1
        assert events == [("NewEvent", {})]
        await client.close()

    async def test_unanswered_request_expires(self, vts: FakeVts, tmp_path: Path) -> None:
        client = await connected(vts, TokenStore(tmp_path / "t"))
        client.timeout = 0.3
        vts.answer_next_with(lambda request_id: None)  # this injection is never answered
        injection = await client.send("InjectParameterDataRequest",
                                      {"parameterValues": [{"id": "MouthOpen", "value": 1}]})
        with pytest.raises(TimeoutError, match="did not answer InjectParameterDataRequest"):
            await asyncio.wait_for(asyncio.shield(injection), 10)
        assert client.in_flight == 0  # nothing pending for ever (120 of them stop the avatar)
        assert (await client.request("APIStateRequest"))["active"] is True
        await client.close()

    async def test_unknown_event_subscription_error(self, vts: FakeVts, tmp_path: Path) -> None:
        client = await connected(vts, TokenStore(tmp_path / "t"))
        with pytest.raises(VtsApiError, match="VTS error 950"):
            await client.request("EventSubscriptionRequest", {"eventName": "NoSuchEvent",
                                                             "subscribe": True})
        await client.close()

    async def test_pending_request_fails_when_vts_quits(self, vts: FakeVts,
                                                        tmp_path: Path) -> None:
        client = await connected(vts, TokenStore(tmp_path / "t"))
        await vts.stop()
        await asyncio.wait_for(client.wait_closed(), 5)
        with pytest.raises(VtsConnectionError, match="not connected to VTube Studio"):
            await client.request("CurrentModelRequest")
        await client.close()

    async def test_unreachable_names_the_url(self) -> None:
        client = VtsClient("ws://127.0.0.1:9")
        with pytest.raises(VtsConnectionError, match="cannot reach VTube Studio at ws://127"):
            await client.connect()
