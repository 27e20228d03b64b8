"""``vtlaunch keys DIR``: CURVE keys for a bus over TCP, in the layout `bus.address.CurveKeys`
reads: ``server.key`` / ``server.key_secret`` (vtbus), ``client.key`` / ``client.key_secret``
(every node), ``authorized/`` (the client public keys vtbus lets in). Copy the folder to every
host and point ``[bus] keys`` (or ``VT_BUS_KEYS``) at it."""

from __future__ import annotations

import shutil
from pathlib import Path

import zmq.auth

from bus.errors import BusConfigError

__all__ = ["make_keys"]


def make_keys(folder: Path) -> list[Path]:
    """Make a server and a client key pair in ``folder`` and authorize the client.

    Raises
    ------
    BusConfigError
        ``folder`` already holds keys (they are never overwritten: every host would need the
        new ones).
    """
    existing = [folder / n for n in ("server.key_secret", "client.key_secret") if
                (folder / n).exists()]
    if existing:
        raise BusConfigError(
            f"{existing[0]} exists: keys are never overwritten (delete the folder to start over)"
        )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = []
    for role in ("server", "client"):
        public, secret = zmq.auth.create_certificates(folder, role)
        Path(secret).chmod(0o600)
        made += [Path(public), Path(secret)]
    authorized = folder / "authorized"
    authorized.mkdir(exist_ok=True, mode=0o700)
    made.append(Path(shutil.copy(folder / "client.key", authorized / "client.key")))
    return made
