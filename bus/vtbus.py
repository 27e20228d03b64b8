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
import functools
import logging
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import zmq
from zmq.auth.thread import ThreadAuthenticator

from bus import protocol as p
from bus import wire
from bus.address import BusAddress, resolve
from bus.bounded import LogLimiter, put_bounded, release_freed_memory
from bus.errors import BusConfigError, WireError
from bus.run import EscapingFormatter
from messages.catalog import TOPICS

__all__ = ["Broker", "main"]

log = logging.getLogger("vtbus")

DEFAULT_HWM = 1_000_000
"""Queue limit per socket and per peer, in messages: explicit, since the defaults (1000)
lost 3-10% of a 200k burst here."""
MAX_NODES = 1024
"""Names the registry holds at once: a flood of heartbeats with made-up names is refused past
this, while every node already listed keeps its place."""
MAX_INFO_BYTES = 1 << 20
"""Largest heartbeat (a node's whole description; a real one is a few KiB)."""
MAX_LATCHED_TOPICS = 1024
MAX_LATCHED_PUBLISHERS = 64
"""Latched values kept: topics, and publishers per topic (the oldest goes first past these)."""

RELEASE_EVERY_S = 5.0
"""How often freed memory is given back to the system (`bus.bounded.release_freed_memory`)."""

Send = Callable[[list[bytes]], bool]
"""Sends one message on the control socket; False when the peer is gone or its queue full."""

_KIND_LABELS = {kind: kind.decode().lower() for kind in
                (p.HB, p.BYE, p.LATCH, p.LGET, p.LVAL, p.GRAPH, p.CALL, p.REQ, p.REP)}


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
        """Control messages dropped, by kind ("short", "unknown", "failed" beside the kinds)."""
        self._bad_log = LogLimiter()
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
        send = functools.partial(self._send, control)
        next_expiry = next_release = time.monotonic()
        while not self._stop.is_set():
            if poller.poll(100):
                while True:
                    try:
                        frames = control.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.handle(frames, send, time.monotonic())
                    # not kept until the next message: a 50 MB one held 50 MB in a flood test
                    del frames
            now = time.monotonic()
            if now >= next_expiry:
                self._expire(now)
                next_expiry = now + 0.25
            if now >= next_release:  # what a flood queued (in the forwarder too) goes back
                release_freed_memory()
                next_release = now + RELEASE_EVERY_S

    def _expire(self, now: float) -> None:
        for name, entry in list(self.nodes.items()):
            if now - entry.last_seen > self.ttl_s:
                log.warning("node %s missed its heartbeats for %.1f s: dropped", name, self.ttl_s)
                del self.nodes[name]

    # ---------------------------------------------------------------- control messages

    def handle(self, frames: list[bytes], send: Send, now: float) -> None:
        """Handle one control message as the ROUTER gives it: ``[identity, kind, *rest]``.

        Replies go out through ``send`` (False when a peer is gone or its queue is full).
        Never raises: a message that is not ours, whatever its frames, is counted in
        `bad_input` by kind, logged (once per peer and kind, a few lines a second at most)
        and dropped, and vtbus serves on.
        """
        if len(frames) < 2:
            self._bad(frames[0] if frames else b"", "short", f"{len(frames)} frame(s)", now)
            return
        identity, kind, *rest = frames
        label = _KIND_LABELS.get(kind, "unknown")
        try:
            self._dispatch(identity, kind, rest, send, now)
        except (msgspec.DecodeError, UnicodeDecodeError, IndexError, ValueError, WireError) as exc:
            self._bad(identity, label, f"{label} did not decode ({exc})", now)
        except Exception as exc:  # a bug of ours: serve on, and say so with the traceback
            self.bad_input["failed"] += 1
            if self._bad_log.should_log(("failed", label, type(exc).__name__), now):
                log.exception("a %s control message failed; vtbus serves on", label)

    def _dispatch(self, identity: bytes, kind: bytes, rest: list[bytes], send: Send,
                  now: float) -> None:
        match kind:
            case p.HB:
                self._heartbeat(identity, _frames(rest, 1), send, now)
            case p.LATCH:
                self._latch(*_frames(rest, 3))
            case p.LGET:
                (raw_meta,) = _frames(rest, 1)
                meta = self._latch_decoder.decode(raw_meta)
                out = [identity, p.LVAL, raw_meta]
                for header_payload in self.latched.get(meta.topic, {}).values():
                    out.extend(header_payload)
                send(out)
            case p.GRAPH:
                self._send_graph(identity, send, now)
            case p.CALL:
                self._route_call(identity, _frames(rest, 3), send)
            case p.REP:
                reply = self._reply_decoder.decode(rest[0])
                send([reply.client, p.REP, rest[0], *rest[1:]])
            case p.BYE:
                self._forget(identity)
            case _:
                self._bad(identity, "unknown", f"unknown kind {kind[:16]!r}", now)

    def _bad(self, identity: bytes, label: str, reason: str, now: float) -> None:
        self.bad_input[label] += 1
        if self._bad_log.should_log((identity, label), now):
            held = self._bad_log.take_suppressed()
            log.warning("dropped a control message from %s: %s (logged once per peer and "
                        "kind%s)", identity.hex()[:16], reason[:300],
                        f"; {held} other drops since the last such line" if held else "")

    def _latch(self, raw_meta: bytes, raw_header: bytes, payload: bytes) -> None:
        """Keep a latched value, once it is known to be one: its header and its payload
        decode (as the catalogue's type for a known topic). A forged value must not stand in
        for the publisher's own in what late joiners are given."""
        meta = self._latch_decoder.decode(raw_meta)
        if len(meta.topic) > wire.MAX_TOPIC_BYTES:
            raise ValueError(f"a topic of {len(meta.topic)} characters")
        header = wire.decode_header(raw_header)
        known = TOPICS.get(meta.topic)
        if known is not None and header.type != known.type.__struct_config__.tag:
            raise WireError(f"{meta.topic} carries {known.type.__name__}, not {header.type}")
        wire.decode_payload(header, payload)
        values = self.latched.get(meta.topic)
        if values is None:
            values = {}
            put_bounded(self.latched, meta.topic, values, MAX_LATCHED_TOPICS)
        put_bounded(values, header.publisher, [raw_header, payload], MAX_LATCHED_PUBLISHERS)

    def _heartbeat(self, identity: bytes, rest: list[bytes], send: Send, now: float) -> None:
        (raw_info,) = rest
        if len(raw_info) > MAX_INFO_BYTES:
            raise ValueError(f"a node description of {len(raw_info)} bytes")
        info = self._info_decoder.decode(raw_info)
        old = self.nodes.get(info.name)
        if old is None and len(self.nodes) >= MAX_NODES:
            raise ValueError(f"the registry is full ({MAX_NODES} nodes)")
        if info.hidden:
            pass  # the tools come and go all the time: not worth a line
        elif old is None:
            log.info("node %s joined (pid %d on %s)", info.name, info.pid, info.host)
        elif old.identity != identity and old.info.pid != info.pid:
            log.info("node %s is back (pid %d, was %d)", info.name, info.pid, old.info.pid)
        self.nodes[info.name] = _Entry(identity, info, now)
        hello = p.BusHello(epoch=self.epoch, ttl_s=self.ttl_s)
        send([identity, p.HB, p.encoder.encode(hello)])

    def _forget(self, identity: bytes) -> None:
        for name, entry in list(self.nodes.items()):
            if entry.identity == identity:
                if not entry.info.hidden:
                    log.info("node %s left", name)
                del self.nodes[name]

    def _send_graph(self, identity: bytes, send: Send, now: float) -> None:
        graph = p.Graph(
            nodes=[p.NodeStatus(e.info, now - e.last_seen) for e in self.nodes.values()],
            epoch=self.epoch,
        )
        send([identity, p.GRAPH, p.encoder.encode(graph)])

    def _servers_of(self, service: str) -> list[tuple[str, _Entry]]:
        """The nodes serving ``service``, the most recently heard first."""
        found = [(name, e) for name, e in self.nodes.items()
                 if any(s.name == service for s in e.info.services)]
        return sorted(found, key=lambda item: item[1].last_seen, reverse=True)

    def _route_call(self, identity: bytes, rest: list[bytes], send: Send) -> None:
        meta = self._call_decoder.decode(rest[0])
        meta.client = identity
        request = [p.REQ, p.encoder.encode(meta), *rest[1:]]
        for name, server in self._servers_of(meta.service):
            if send([server.identity, *request]):
                return
            # the router cannot reach it (its connection closed: killed; or its queue is full):
            # it cannot answer, so it leaves the registry until its next heartbeat, and
            # `Client.wait_for_service` no longer counts a dead server as one
            log.info("node %s cannot be reached: out of the registry until it is heard again",
                     name)
            del self.nodes[name]
        reply = p.ReplyMeta(
            call_id=meta.call_id, status="no_service",
            error=f"no node serves {meta.service!r} on this bus",
        )
        send([identity, p.REP, p.encoder.encode(reply)])

    @staticmethod
    def _send(control: zmq.Socket, frames: list[bytes]) -> bool:
        try:
            control.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError:  # peer gone (router_mandatory) or its queue is full
            return False


def _frames(rest: list[bytes], count: int) -> list[bytes]:
    """The frames after the kind, when there are exactly ``count`` of them."""
    if len(rest) != count:
        raise ValueError(f"{len(rest)} frame(s) after the kind, expected {count}")
    return rest


def main(argv: list[str] | None = None) -> None:
    """``vtbus [--bus URL] [--ttl S] [--hwm N]``: serve one bus until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="vtbus", description=__doc__.splitlines()[0])
    parser.add_argument("--bus", help="ipc://FOLDER or tcp://HOST:PORT (default: VT_BUS)")
    parser.add_argument("--ttl", type=float, default=3.0, help="heartbeat TTL in seconds")
    parser.add_argument("--hwm", type=int, default=DEFAULT_HWM, help="queue limit (messages)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    # node names and dropped messages come from outside: one record, one line, escaped
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s [vtbus] %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        handlers=[handler])
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
