"""launch.keys: ``vtlaunch keys DIR`` makes the layout bus.address.CurveKeys reads."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import zmq.auth

from bus.address import CurveKeys, resolve
from bus.errors import BusConfigError
from launch.keys import make_keys


class TestMakeKeys:
    def test_layout_read_by_curve_keys(self, tmp_path: Path) -> None:
        folder = tmp_path / "keys"
        make_keys(folder)
        keys = CurveKeys(folder)
        client_public, _ = keys.client_pair()
        server_public, _ = keys.server_secret()
        assert keys.server_public == server_public
        authorized, _ = zmq.auth.load_certificate(keys.authorized / "client.key")
        assert authorized == client_public
        for secret in ("server.key_secret", "client.key_secret"):
            assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600
        assert resolve("tcp://10.0.0.1:7000", keys=str(folder)).keys == keys

    def test_never_overwrites(self, tmp_path: Path) -> None:
        make_keys(tmp_path)
        before = (tmp_path / "server.key_secret").read_bytes()
        with pytest.raises(BusConfigError, match=r"server\.key_secret exists: keys are never "
                                                 r"overwritten"):
            make_keys(tmp_path)
        assert (tmp_path / "server.key_secret").read_bytes() == before
