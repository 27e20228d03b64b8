"""Fuzzing the VTS client's frame decoder through a real WebSocket: whatever VTS sends (any
text, bytes, JSON, as an event or as the answer to a request) is decoded, or rejected with the
client's documented error, counted and logged; the connection and its reader live on."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fakes.vts import FakeVts
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nodes.avatar.vts.client import VtsClient, VtsError
from nodes.avatar.vts.tokens import TokenStore

FUZZ = settings(max_examples=300, derandomize=True, print_blob=True, deadline=None,
                # one VTS and one client for every example: the point is that they survive
                suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
MESSAGE_TYPES = ["APIError", "APIStateResponse", "InjectParameterDataResponse",
                 "ModelLoadedEvent", "SomethingNew", ""]
api_errors = st.fixed_dictionaries({}, optional={"errorID": json_values | st.integers(),
                                                 "message": json_values})
ENVELOPE_FIELDS = {
    "apiName": st.just("VTubeStudioPublicAPI") | json_values,
    "apiVersion": st.just("1.0") | json_values,
    "timestamp": st.integers() | json_values,
    "data": api_errors | json_values,
}
envelopes = st.fixed_dictionaries({}, optional={
    **ENVELOPE_FIELDS,
    "requestID": st.text(max_size=10) | json_values,
    "messageType": st.sampled_from(MESSAGE_TYPES) | json_values,
})
# an answer names its request; its type is an answer's, or not a string at all (a frame of
# another type with a request's id is an event: it answers nothing)
answers = st.fixed_dictionaries({
    "messageType": st.sampled_from(["APIError", "APIStateResponse"])
    | json_values.filter(lambda v: not isinstance(v, str)),
}, optional=ENVELOPE_FIELDS)


def as_frame(value: Any) -> str:
    # NaN and Infinity as Python writes them: not JSON, but a peer might send them
    return json.dumps(value, allow_nan=True)


# any frame at all: raw text, raw bytes (a binary frame), JSON of any shape, API-like envelopes
frames = (st.text(max_size=60) | st.binary(max_size=60) | json_values.map(as_frame)
          | envelopes.map(as_frame))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[FakeVts, VtsClient]]:
    async with FakeVts() as vts:
        client = VtsClient(vts.url, on_event=lambda name, data: None)
        await client.connect()
        await client.authenticate(TokenStore(tmp_path / "t"), "vtshow avatar", "vtshow")
        yield vts, client
        await client.close()


async def assert_alive(client: VtsClient) -> None:
    assert client.connected, "a frame ended the connection"
    assert (await client.request("APIStateRequest"))["active"] is True


class TestDecoderFuzz:
    @FUZZ
    @given(frame=frames)
    async def test_any_unsolicited_frame(self, client: tuple[FakeVts, VtsClient],
                                         frame: str | bytes) -> None:
        vts, vts_client = client
        before = vts_client.counters["frames_in"]
        await vts.send_raw(frame)
        await assert_alive(vts_client)
        assert vts_client.counters["frames_in"] == before + 2  # the frame, then the answer

    @FUZZ
    @given(answer=answers)
    # an error id that is not an integer: it killed the reader, so the connection dropped
    @example(answer={"messageType": "APIError", "data": {"errorID": "x", "message": "?"}})
    @example(answer={"messageType": "APIError", "data": {"errorID": float("inf")}})
    async def test_any_answer_to_a_request(self, client: tuple[FakeVts, VtsClient],
                                           answer: dict[str, Any]) -> None:
        """A malformed answer that names its request resolves it with a documented error (no
        wait for a timeout), and the reader goes on."""
        vts, vts_client = client
        vts.answer_next_with(lambda request_id: as_frame({**answer, "requestID": request_id}))
        answered = await vts_client.send("APIStateRequest")
        await assert_alive(vts_client)
        # frames are read in order: the answer to the first request came before the second's
        assert answered.done(), "a malformed answer left its request waiting"
        if answered.exception() is None:
            assert isinstance(answered.result(), dict)
        else:
            assert isinstance(answered.exception(), VtsError), answered.exception()

    async def test_bad_frames_counted_and_logged_once(
        self, client: tuple[FakeVts, VtsClient], caplog: pytest.LogCaptureFixture
    ) -> None:
        vts, vts_client = client
        with caplog.at_level(logging.WARNING, logger="nodes.avatar.vts.client"):
            for frame in ("not json", b"\xff\xfe", '{"messageType": 5}', "[1, 2]"):
                await vts.send_raw(frame)
            await assert_alive(vts_client)
        assert vts_client.counters["bad_frames"] == 4
        assert len(caplog.records) == 1 and "logged once" in caplog.text
