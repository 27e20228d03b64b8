"""Bus addresses: ipc folders, TCP ports, and refusing TCP beyond loopback without keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq.auth

from bus.address import default_bus_url, resolve
from bus.errors import BusConfigError


class TestResolve:
    def test_ipc_folder_gives_three_sockets(self) -> None:
        address = resolve("ipc:///tmp/show")
        assert (address.data_in, address.data_out, address.control) == (
            "ipc:///tmp/show/data-in", "ipc:///tmp/show/data-out", "ipc:///tmp/show/control")
        assert address.folder == Path("/tmp/show")

    def test_tcp_uses_three_ports(self) -> None:
        address = resolve("tcp://127.0.0.1:7000")
        assert (address.data_in, address.data_out, address.control) == (
            "tcp://127.0.0.1:7000", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002")

    def test_env_is_used_when_no_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VT_BUS", "ipc:///tmp/from-env")
        assert resolve().url == "ipc:///tmp/from-env"

    def test_default_is_per_user(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("VT_BUS", raising=False)
        monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
        assert resolve().url == default_bus_url() == "ipc:///run/user/1000/vtshow/default"

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("udp://x:1", "neither ipc://FOLDER nor tcp://HOST:PORT"),
            ("tcp://127.0.0.1", "needs a host and a port"),
            ("tcp://0.0.0.0:7000", "beyond loopback without CURVE keys"),
            ("tcp://192.0.2.7:7000", "beyond loopback without CURVE keys"),
            ("ipc:///tmp/" + "x" * 120, "too long for a unix socket"),
        ],
    )
    def test_refused(self, url: str, message: str) -> None:
        with pytest.raises(BusConfigError, match=message):
            resolve(url, keys="")

    def test_tcp_beyond_loopback_allowed_with_keys(self, tmp_path: Path) -> None:
        zmq.auth.create_certificates(tmp_path, "server")
        address = resolve("tcp://0.0.0.0:7000", keys=str(tmp_path))
        assert address.keys is not None and address.keys.server_public

    def test_missing_key_file_says_how_to_make_keys(self, tmp_path: Path) -> None:
        address = resolve("tcp://127.0.0.1:7000", keys=str(tmp_path))
        assert address.keys is not None
        with pytest.raises(BusConfigError, match="vtlaunch keys"):
            address.keys.client_pair()
