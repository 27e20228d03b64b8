"""Free loopback ports for servers a test starts (the OS picks; the socket is closed again,
so a port is only likely free, which is all a test on one machine needs)."""

from __future__ import annotations

import socket
from typing import Literal

__all__ = ["closed_port_url", "free_port", "free_port_block"]

HOST = "127.0.0.1"


def free_port(kind: Literal["tcp", "udp"] = "tcp") -> int:
    """A loopback port nothing listens on now."""
    family = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, family) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def free_port_block(count: int = 3) -> int:
    """A port P with P .. P+count-1 all free (a tcp bus binds three consecutive ports)."""
    for _ in range(50):
        first = free_port()
        if first + count > 65535:
            continue
        try:
            for offset in range(1, count):
                with socket.socket() as sock:
                    sock.bind((HOST, first + offset))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} free consecutive ports on {HOST}")


def closed_port_url() -> str:
    """An ``http://`` URL on a loopback port nobody answers (a server that is down)."""
    return f"http://{HOST}:{free_port()}"
