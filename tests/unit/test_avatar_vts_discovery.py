"""Parsing the VTube Studio UDP state broadcast."""

from __future__ import annotations

import json

import pytest

from nodes.avatar.vts.discovery import parse_broadcast

# the documented example (DenchiSoft/VTubeStudio README, "API Server Discovery (UDP)")
DOCUMENTED = {
    "apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "timestamp": 1630159656406,
    "messageType": "VTubeStudioAPIStateBroadcast", "requestID": "VTubeStudioAPIStateBroadcast",
    "data": {"active": False, "port": 8001, "instanceID": "93aa0d0494304fddb057ae8a295c4e59",
             "windowTitle": "VTube Studio"},
}


class TestParseBroadcast:
    def test_documented_example(self) -> None:
        instance = parse_broadcast(json.dumps(DOCUMENTED).encode(), "127.0.0.1", 5.0)
        assert instance is not None
        assert (instance.port, instance.active, instance.url) == (8001, False,
                                                                  "ws://127.0.0.1:8001")
        assert instance.instance_id == "93aa0d0494304fddb057ae8a295c4e59"

    def test_unknown_fields_tolerated(self) -> None:
        frame = {**DOCUMENTED, "newField": 1,
                 "data": {**DOCUMENTED["data"], "somethingNew": [1]}}  # type: ignore[dict-item]
        assert parse_broadcast(json.dumps(frame).encode(), "h", 0.0) is not None

    @pytest.mark.parametrize(
        "payload",
        [
            b"not json",
            b"[]",
            json.dumps({**DOCUMENTED, "messageType": "SomethingElse"}).encode(),
            json.dumps({**DOCUMENTED, "data": {"port": 0}}).encode(),       # no valid port
            json.dumps({**DOCUMENTED, "data": {"active": True}}).encode(),  # port missing
        ],
    )
    def test_rejects_other_datagrams(self, payload: bytes) -> None:
        assert parse_broadcast(payload, "h", 0.0) is None
