"""Finding VTube Studio instances by their UDP broadcast.

Every VTS instance broadcasts a ``VTubeStudioAPIStateBroadcast`` JSON frame every two seconds
on UDP port 47779 (even with the API switched off: then ``active`` is false), carrying its
WebSocket ``port``, a random ``instanceID`` and its ``windowTitle``. Several listeners on one
machine share the port (``SO_REUSEPORT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass

import msgspec

__all__ = ["DISCOVERY_PORT", "Discovery", "VtsInstance", "parse_broadcast"]

DISCOVERY_PORT = 47779
BROADCAST_TYPE = "VTubeStudioAPIStateBroadcast"


class _BroadcastData(msgspec.Struct):
    port: int
    instanceID: str = ""
    windowTitle: str = ""
    active: bool = False


class _Broadcast(msgspec.Struct):
    messageType: str
    data: _BroadcastData


_decoder = msgspec.json.Decoder(_Broadcast)


@dataclass
class VtsInstance:
    """One VTS instance seen on the network."""

    host: str
    port: int
    instance_id: str
    window_title: str
    active: bool
    seen: float
    """``time.monotonic()`` of the last broadcast."""

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"


def parse_broadcast(payload: bytes, host: str, seen: float) -> VtsInstance | None:
    """The instance a datagram announces, or None for anything that is not a VTS broadcast."""
    try:
        frame = _decoder.decode(payload)
    except msgspec.DecodeError:
        return None
    if frame.messageType != BROADCAST_TYPE or not 0 < frame.data.port < 65536:
        return None
    d = frame.data
    return VtsInstance(host, d.port, d.instanceID, d.windowTitle, d.active, seen)


class Discovery(asyncio.DatagramProtocol):
    """Listens for broadcasts and keeps the instances seen within ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = 6.0):
        self.ttl_s = ttl_s
        self._instances: dict[str, VtsInstance] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._changed = asyncio.Event()

    async def start(self, port: int = DISCOVERY_PORT, host: str = "0.0.0.0") -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        instance = parse_broadcast(data, str(addr[0]), time.monotonic())
        if instance is not None:
            key = instance.instance_id or f"{instance.host}:{instance.port}"
            self._instances[key] = instance
            self._changed.set()

    def instances(self, *, active_only: bool = True) -> list[VtsInstance]:
        """Live instances, ordered by port (a stable order for assigning them to personas)."""
        now = time.monotonic()
        live = [i for i in self._instances.values() if now - i.seen <= self.ttl_s
                and (i.active or not active_only)]
        return sorted(live, key=lambda i: (i.port, i.instance_id))

    def find(self, *, match: str = "", index: int = 0) -> VtsInstance | None:
        """The instance whose window title or instance id is ``match``; without ``match``, the
        ``index``-th live instance by port."""
        live = self.instances()
        if match:
            for instance in live:
                if match in (instance.window_title, instance.instance_id):
                    return instance
            return None
        return live[index] if index < len(live) else None

    async def wait(self, timeout: float, *, match: str = "", index: int = 0
                   ) -> VtsInstance | None:
        """`find`, waiting up to ``timeout`` seconds for a broadcast that satisfies it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.find(match=match, index=index)
            remaining = deadline - loop.time()
            if found is not None or remaining <= 0:
                return found
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
