"""Files that survive a crash: written whole under a temporary name, then renamed over the
old one, the rename made durable by syncing the folder (the game node's save, the memory
journal)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["replace_durably", "sync_folder"]


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a crash right after could otherwise undo it)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_durably(path: Path, data: bytes, temporary: Path) -> None:
    """Make ``data`` the content of ``path``: written and synced to ``temporary``, renamed over
    ``path``, the folder synced. After a crash ``path`` holds the old or the new content,
    never a part of either; ``temporary`` may be left behind.

    Raises
    ------
    OSError
        The folder cannot be written.
    """
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    sync_folder(path.parent)
