"""vtbus: the one process that binds. A C-level XSUB/XPUB forwarder carries the data; a
ROUTER keeps the registry (nodes, their topics, services, parameters, heartbeats with a TTL),
the latched values, and routes service calls.

The data path never enters Python: `zmq.proxy` runs in its own thread. Latched values reach
the registry because their publishers also send them on the control socket (a copy per
latched message, which are few), and a late subscriber asks for them when it subscribes.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec
import zmq
from zmq.auth.thread import ThreadAuthenticator

from bus import protocol as p
from bus.address import BusAddress, resolve
from bus.errors import BusConfigError

__all__ = ["Broker", "main"]

log = logging.getLogger("vtbus")

DEFAULT_HWM = 1_000_000
"""Queue limit per socket and per peer, in messages: explicit, since the defaults (1000)
lost 3-10% of a 200k burst here."""


@dataclass
class _Entry:
    identity: bytes
    info: p.NodeInfo
    last_seen: float


class Broker:
    """The forwarder and the registry of one bus.

    Parameters
    ----------
    address:
        The bus to serve (see `bus.address.resolve`).
    hwm:
        Queue limit in messages for the forwarder's sockets.
    ttl_s:
        A node that has not sent a heartbeat for this long is dropped from the registry.
    """

    def __init__(self, address: BusAddress, *, hwm: int = DEFAULT_HWM, ttl_s: float = 3.0):
        self.address = address
        self.hwm = hwm
        self.ttl_s = ttl_s
        self.epoch = uuid.uuid4().hex[:12]
        self.nodes: dict[str, _Entry] = {}
        self.latched: dict[str, dict[str, list[bytes]]] = {}
        self.bad_input: Counter[str] = Counter()
        self._ctx = zmq.Context()
        self._stop = threading.Event()
        self._lock_file: int | None = None
        self._auth: ThreadAuthenticator | None = None
        self._info_decoder = msgspec.msgpack.Decoder(p.NodeInfo)
        self._latch_decoder = msgspec.msgpack.Decoder(p.LatchMeta)
        self._call_decoder = msgspec.msgpack.Decoder(p.CallMeta)
        self._reply_decoder = msgspec.msgpack.Decoder(p.ReplyMeta)

    # ---------------------------------------------------------------- sockets

    def _claim_folder(self) -> None:
        """Make the ipc folder (user-only) and make sure no other vtbus serves it."""
        folder = self.address.folder
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder / "vtbus.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = Path(folder / "vtbus.lock").read_text().strip() or "?"
            os.close(fd)
            raise BusConfigError(
                f"another vtbus (pid {other}) already serves {folder}: stop it, or give this "
                "show its own bus with --bus / VT_BUS"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_file = fd

    def _socket(self, kind: int) -> zmq.Socket:
        sock = self._ctx.socket(kind)
        sock.linger = 0
        sock.sndhwm = self.hwm
        sock.rcvhwm = self.hwm
        if self.address.keys is not None:
            self.address.keys.apply_server(sock)
        return sock

    def _start_auth(self) -> None:
        keys = self.address.keys
        if keys is None:
            return
        if not keys.authorized.is_dir():
            raise BusConfigError(f"{keys.authorized} is missing: it must hold the client public keys")
        self._auth = ThreadAuthenticator(self._ctx)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(keys.authorized))

    # ---------------------------------------------------------------- serving

    def serve(self, ready: threading.Event | None = None) -> None:
        """Run until `stop` is called (or SIGINT/SIGTERM in `main`)."""
        self._claim_folder()
        self._start_auth()
        xsub, xpub = self._socket(zmq.XSUB), self._socket(zmq.XPUB)
        control = self._socket(zmq.ROUTER)
        control.router_mandatory = True
        steer = self._ctx.socket(zmq.PAIR)
        steer.bind(f"inproc://steer-{self.epoch}")
        try:
            xsub.bind(self.address.data_in)
            xpub.bind(self.address.data_out)
            control.bind(self.address.control)
        except zmq.ZMQError as exc:
            raise BusConfigError(f"cannot bind the bus at {self.address.url}: {exc}") from exc
        steer_peer = self._ctx.socket(zmq.PAIR)
        steer_peer.connect(f"inproc://steer-{self.epoch}")
        forwarder = threading.Thread(
            target=zmq.proxy_steerable, args=(xsub, xpub, None, steer), name="forwarder",
            daemon=True,
        )
        forwarder.start()
        log.info("vtbus %s serving %s (epoch %s)", os.getpid(), self.address.url, self.epoch)
        if ready is not None:
            ready.set()
        try:
            self._control_loop(control)
        finally:
            steer_peer.send(b"TERMINATE")
            forwarder.join(timeout=2)
            for sock in (xsub, xpub, control, steer, steer_peer):
                sock.close(linger=0)
            if self._auth is not None:
                self._auth.stop()
            self._ctx.term()
            if self._lock_file is not None:
                os.close(self._lock_file)
            log.info("vtbus stopped")

    def stop(self) -> None:
        self._stop.set()

    def _control_loop(self, control: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(control, zmq.POLLIN)
        next_expiry = time.monotonic()
        while not self._stop.is_set():
            if poller.poll(100):
                while True:
                    try:
                        frames = control.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._handle(control, frames)
            now = time.monotonic()
            if now >= next_expiry:
                self._expire(now)
                next_expiry = now + 0.25

    def _expire(self, now: float) -> None:
        for name, entry in list(self.nodes.items()):
            if now - entry.last_seen > self.ttl_s:
                log.warning("node %s missed its heartbeats for %.1f s: dropped", name, self.ttl_s)
                del self.nodes[name]

    def _bad(self, identity: bytes, reason: str) -> None:
        key = f"{identity.hex()[:8]}: {reason}"
        if key not in self.bad_input:
            log.warning("dropped a control message from %s (logged once)", key)
        self.bad_input[key] += 1

    def _handle(self, control: zmq.Socket, frames: list[bytes]) -> None:
        if len(frames) < 2:
            self._bad(frames[0] if frames else b"", f"{len(frames)} frames")
            return
        identity, kind, *rest = frames
        try:
            if kind == p.HB:
                self._heartbeat(control, identity, rest)
            elif kind == p.LATCH:
                meta = self._latch_decoder.decode(rest[0])
                header, payload = rest[1], rest[2]
                publisher = self._publisher_of(header)
                self.latched.setdefault(meta.topic, {})[publisher] = [header, payload]
            elif kind == p.LGET:
                meta = self._latch_decoder.decode(rest[0])
                values = self.latched.get(meta.topic, {})
                out = [identity, p.LVAL, rest[0]]
                for header_payload in values.values():
                    out.extend(header_payload)
                control.send_multipart(out)
            elif kind == p.GRAPH:
                self._send_graph(control, identity)
            elif kind == p.CALL:
                self._route_call(control, identity, rest)
            elif kind == p.REP:
                reply = self._reply_decoder.decode(rest[0])
                self._send(control, [reply.client, p.REP, rest[0], *rest[1:]])
            elif kind == p.BYE:
                self._forget(identity)
            else:
                self._bad(identity, f"unknown kind {kind[:16]!r}")
        except (msgspec.DecodeError, IndexError, ValueError) as exc:
            self._bad(identity, f"{kind[:16]!r} did not decode ({exc})")

    @staticmethod
    def _publisher_of(raw_header: bytes) -> str:
        # the header is a msgpack array whose first element is the publisher
        return str(msgspec.msgpack.decode(raw_header)[0])

    def _heartbeat(self, control: zmq.Socket, identity: bytes, rest: list[bytes]) -> None:
        info = self._info_decoder.decode(rest[0])
        old = self.nodes.get(info.name)
        if info.hidden:
            pass  # the tools come and go all the time: not worth a line
        elif old is None:
            log.info("node %s joined (pid %d on %s)", info.name, info.pid, info.host)
        elif old.identity != identity and old.info.pid != info.pid:
            log.info("node %s is back (pid %d, was %d)", info.name, info.pid, old.info.pid)
        self.nodes[info.name] = _Entry(identity, info, time.monotonic())
        hello = p.BusHello(epoch=self.epoch, ttl_s=self.ttl_s)
        self._send(control, [identity, p.HB, p.encoder.encode(hello)])

    def _forget(self, identity: bytes) -> None:
        for name, entry in list(self.nodes.items()):
            if entry.identity == identity:
                if not entry.info.hidden:
                    log.info("node %s left", name)
                del self.nodes[name]

    def _send_graph(self, control: zmq.Socket, identity: bytes) -> None:
        now = time.monotonic()
        graph = p.Graph(
            nodes=[p.NodeStatus(e.info, now - e.last_seen) for e in self.nodes.values()],
            epoch=self.epoch,
        )
        self._send(control, [identity, p.GRAPH, p.encoder.encode(graph)])

    def _server_of(self, service: str) -> bytes | None:
        for entry in self.nodes.values():
            if any(s.name == service for s in entry.info.services):
                return entry.identity
        return None

    def _route_call(self, control: zmq.Socket, identity: bytes, rest: list[bytes]) -> None:
        meta = self._call_decoder.decode(rest[0])
        server = self._server_of(meta.service)
        if server is not None:
            meta.client = identity
            if self._send(control, [server, p.REQ, p.encoder.encode(meta), *rest[1:]]):
                return
        reply = p.ReplyMeta(
            call_id=meta.call_id, status="no_service",
            error=f"no node serves {meta.service!r} on this bus",
        )
        self._send(control, [identity, p.REP, p.encoder.encode(reply)])

    @staticmethod
    def _send(control: zmq.Socket, frames: list[bytes]) -> bool:
        try:
            control.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError:  # peer gone (router_mandatory) or its queue is full
            return False


def main(argv: list[str] | None = None) -> None:
    """``vtbus [--bus URL] [--ttl S] [--hwm N]``: serve one bus until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="vtbus", description=__doc__.splitlines()[0])
    parser.add_argument("--bus", help="ipc://FOLDER or tcp://HOST:PORT (default: VT_BUS)")
    parser.add_argument("--ttl", type=float, default=3.0, help="heartbeat TTL in seconds")
    parser.add_argument("--hwm", type=int, default=DEFAULT_HWM, help="queue limit (messages)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s [vtbus] %(message)s",
    )
    try:
        broker = Broker(resolve(args.bus), hwm=args.hwm, ttl_s=args.ttl)
        signal.signal(signal.SIGTERM, lambda *_: broker.stop())
        signal.signal(signal.SIGINT, lambda *_: broker.stop())
        broker.serve()
    except BusConfigError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
