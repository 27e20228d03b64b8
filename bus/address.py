"""Where the bus lives: one URL gives the three endpoints, and CURVE keys for TCP.

``ipc://FOLDER`` puts three sockets in FOLDER; ``tcp://HOST:PORT`` uses PORT, PORT+1 and
PORT+2. The URL comes from ``--bus``, else ``VT_BUS``, else a per-user run folder, so several
shows can run side by side. A TCP bus on anything but loopback must have CURVE keys
(``VT_BUS_KEYS``, a folder made by ``vtlaunch keys``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import zmq
import zmq.auth

from bus.errors import BusConfigError

__all__ = ["LAUNCH_FILE_NOTE", "BusAddress", "CurveKeys", "default_bus_url", "resolve"]

LAUNCH_FILE_NOTE = "launch_file"
"""In an ipc bus's folder (the show's run folder): the path of the launch file the show was
started from, written by vtlaunch, read by the bag recorder."""

# Linux limits a unix socket path to 107 bytes.
_IPC_PATH_MAX = 107


def default_bus_url() -> str:
    """``ipc://`` in the user's runtime folder (or /tmp), named ``default``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/vtshow-{os.getuid()}"
    return f"ipc://{runtime}/vtshow/default"


@dataclass(frozen=True)
class CurveKeys:
    """A keys folder: ``server.key`` (public), ``server.key_secret`` on the bus host,
    ``client.key_secret`` on every node host, ``authorized/`` with allowed client public keys."""

    folder: Path

    @property
    def server_public(self) -> bytes:
        public, _ = zmq.auth.load_certificate(self._need("server.key"))
        return public

    def server_secret(self) -> tuple[bytes, bytes]:
        public, secret = zmq.auth.load_certificate(self._need("server.key_secret"))
        if secret is None:
            raise BusConfigError(f"{self.folder / 'server.key_secret'} holds no secret key")
        return public, secret

    def client_pair(self) -> tuple[bytes, bytes]:
        public, secret = zmq.auth.load_certificate(self._need("client.key_secret"))
        if secret is None:
            raise BusConfigError(f"{self.folder / 'client.key_secret'} holds no secret key")
        return public, secret

    @property
    def authorized(self) -> Path:
        return self.folder / "authorized"

    def _need(self, name: str) -> Path:
        path = self.folder / name
        if not path.exists():
            raise BusConfigError(
                f"CURVE key file {path} is missing: make keys with `vtlaunch keys {self.folder}` "
                "and copy the folder to every host"
            )
        return path

    def apply_client(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of the bus."""
        public, secret = self.client_pair()
        sock.curve_serverkey = self.server_public
        sock.curve_publickey = public
        sock.curve_secretkey = secret

    def apply_server(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (clients are checked against ``authorized/``)."""
        _, secret = self.server_secret()
        sock.curve_server = True
        sock.curve_secretkey = secret


@dataclass(frozen=True)
class BusAddress:
    """The endpoints of one bus."""

    url: str
    data_in: str
    """Publishers connect here (vtbus's XSUB)."""
    data_out: str
    """Subscribers connect here (vtbus's XPUB)."""
    control: str
    """Registry, latched values and services (vtbus's ROUTER)."""
    keys: CurveKeys | None = None
    folder: Path | None = None
    """The run folder of an ipc bus."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


def resolve(url: str | None = None, *, keys: str | None = None) -> BusAddress:
    """Turn a bus URL (or ``VT_BUS``, or the default) into endpoints, checking it is usable.

    Raises
    ------
    BusConfigError
        The URL has an unknown scheme, an ipc path is too long, or a TCP bus beyond loopback
        has no CURVE keys.
    """
    url = url or os.environ.get("VT_BUS") or default_bus_url()
    keys_dir = keys or os.environ.get("VT_BUS_KEYS")
    curve = CurveKeys(Path(keys_dir)) if keys_dir else None
    parts = urlsplit(url)
    if parts.scheme == "ipc":
        folder = Path((parts.netloc + parts.path) or ".").expanduser()
        longest = str(folder / "data-out")
        if len(longest.encode()) > _IPC_PATH_MAX:
            raise BusConfigError(
                f"bus folder {folder} is too long for a unix socket ({_IPC_PATH_MAX} bytes max): "
                "choose a shorter VT_BUS, e.g. ipc:///tmp/vt-show"
            )
        return BusAddress(
            url=url,
            data_in=f"ipc://{folder}/data-in",
            data_out=f"ipc://{folder}/data-out",
            control=f"ipc://{folder}/control",
            keys=curve,
            folder=folder,
        )
    if parts.scheme == "tcp":
        if not parts.hostname or not parts.port:
            raise BusConfigError(f"bus URL {url!r} needs a host and a port: tcp://HOST:PORT")
        if curve is None and not _is_loopback(parts.hostname):
            raise BusConfigError(
                f"refusing the TCP bus {url} beyond loopback without CURVE keys: make them with "
                "`vtlaunch keys DIR` and set VT_BUS_KEYS=DIR on every host"
            )
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        port = parts.port
        return BusAddress(
            url=url,
            data_in=f"tcp://{host}:{port}",
            data_out=f"tcp://{host}:{port + 1}",
            control=f"tcp://{host}:{port + 2}",
            keys=curve,
        )
    raise BusConfigError(
        f"bus URL {url!r} is neither ipc://FOLDER nor tcp://HOST:PORT (set --bus or VT_BUS)"
    )
