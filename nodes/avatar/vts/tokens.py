"""The plugin's VTube Studio token, kept in a file only its user can read, and reused.

The token is a secret: it is never logged, published or put in a bag. One file per VTS
instance (per persona), by default ``$XDG_CONFIG_HOME/vtshow/vts/<persona>.token``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["TokenStore", "default_token_dir"]

log = logging.getLogger(__name__)


def default_token_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vtshow" / "vts"


class TokenStore:
    """Reads and writes one token file with user-only permissions (0600, folder 0700)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> str | None:
        """The stored token, or None when there is none yet.

        A file others can read is tightened to 0600, and its folder to 0700 (with a warning),
        never trusted as is.
        """
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return None
        self._tighten_folder()
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("token file %s was readable by others: permissions set to 0600",
                        self.path)
            os.chmod(self.path, 0o600)
        try:
            token = self.path.read_text(encoding="ascii").strip()
        except UnicodeDecodeError:  # damaged: tokens are ASCII
            log.warning("token file %s is not ASCII: ignored, a new token will be asked for",
                        self.path)
            return None
        return token or None

    def save(self, token: str) -> None:
        """Write ``token`` atomically; the file is created 0600 and never exists wider."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._tighten_folder()  # mkdir sets the mode only when it creates the folder
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, token.encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)

    def _tighten_folder(self) -> None:
        folder = self.path.parent
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("token folder %s was open to others (%04o): permissions set to 0700",
                        folder, mode)
            os.chmod(folder, 0o700)

    def clear(self) -> None:
        """Forget a token VTS no longer accepts (revoked by the user)."""
        self.path.unlink(missing_ok=True)
