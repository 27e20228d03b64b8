"""The VTS frame decoder on its own: any input is an Envelope or a VtsProtocolError, valid
frames decode whatever VTS adds to them, an APIError's payload is checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.avatar.vts.client import Envelope, VtsApiError, VtsProtocolError, decode_frame

FUZZ = settings(max_examples=200, derandomize=True, print_blob=True, deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
unknown_fields = st.dictionaries(st.text(max_size=10).filter(
    lambda k: k not in Envelope.__struct_fields__), json_values, max_size=3)


def decode_or_reject(raw: str | bytes) -> Envelope | VtsProtocolError:
    try:
        return decode_frame(raw)
    except VtsProtocolError as exc:
        return exc


class TestDecodeFrame:
    @FUZZ
    @given(raw=st.text() | st.binary() | json_values.map(lambda v: json.dumps(v)))
    def test_anything_is_a_frame_or_a_protocol_error(self, raw: str | bytes) -> None:
        result = decode_or_reject(raw)
        if isinstance(result, Envelope):
            assert result.messageType  # a frame always says what it is
            assert result.data is None or isinstance(result.data, dict)

    @FUZZ
    @given(request_id=st.text(max_size=64), message_type=st.text(min_size=1, max_size=40),
           timestamp=st.integers(min_value=0, max_value=2**62),
           data=st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=3),
           extra=unknown_fields, binary=st.booleans())
    def test_valid_frames_decode_with_fields_vts_may_add(
        self, request_id: str, message_type: str, timestamp: int,
        data: dict[str, Any] | None, extra: dict[str, Any], binary: bool,
    ) -> None:
        text = json.dumps({**extra, "apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0",
                           "requestID": request_id, "messageType": message_type,
                           "timestamp": timestamp, "data": data})
        frame = decode_frame(text.encode() if binary else text)
        assert (frame.requestID, frame.messageType, frame.timestamp) == \
            (request_id, message_type, timestamp)
        assert json.dumps(frame.data) == json.dumps(data)  # NaN != NaN: compare as written

    @pytest.mark.parametrize(
        ("raw", "request_id", "message"),
        [
            ("not json", "", "not JSON"),
            (b"\xff\xfe{}", "", "not JSON"),                       # not UTF-8
            ("[" * 100_000, "", "not JSON"),                        # nested past any limit
            ("[1, 2]", "", "not an API frame"),
            ('{"requestID": "r1", "messageType": 5}', "r1", "Expected `str`, got `int`"),
            ('{"requestID": "r2", "timestamp": "now", "messageType": "X"}', "r2", "timestamp"),
            ('{"requestID": "r3"}', "r3", "no messageType"),
            ('{"requestID": 7, "messageType": []}', "", "not an API frame"),
        ],
    )
    def test_rejected_with_reason_and_request(self, raw: str | bytes, request_id: str,
                                              message: str) -> None:
        with pytest.raises(VtsProtocolError, match=message) as info:
            decode_frame(raw)
        assert info.value.request_id == request_id

    def test_nan_and_infinity_accepted(self) -> None:
        # some JSON writers emit them; a frame that holds one is still the API's frame
        frame = decode_frame('{"messageType": "ParameterValueResponse", "requestID": "r", '
                             '"data": {"value": NaN, "max": Infinity}}')
        assert frame.requestID == "r" and frame.data is not None
        assert frame.data["max"] == float("inf")


class TestApiError:
    def test_error_id_and_message(self) -> None:
        frame = decode_frame('{"messageType": "APIError", "requestID": "r", '
                             '"data": {"errorID": 453, "message": "Parameter not found."}}')
        error = frame.api_error("InjectParameterDataRequest")
        assert isinstance(error, VtsApiError)
        assert (error.error_id, error.message) == (453, "Parameter not found.")

    @pytest.mark.parametrize(
        "data",
        [
            '{"errorID": "453"}',      # a string
            '{"errorID": 4.5}',        # not whole
            '{"errorID": Infinity}',
            '{"errorID": true}',
            '{"message": "no id"}',
            '{"errorID": 1, "message": ["a"]}',
            "null",
        ],
    )
    def test_malformed_payload_is_a_protocol_error(self, data: str) -> None:
        frame = decode_frame(f'{{"messageType": "APIError", "requestID": "r", "data": {data}}}')
        with pytest.raises(VtsProtocolError, match="malformed APIError") as info:
            frame.api_error("APIStateRequest")
        assert info.value.request_id == "r"
