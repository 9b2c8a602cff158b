"""Writes that survive a crash or a power cut: whole or not at all, and still there after.

A file is written under a temporary name, flushed and fsynced, then renamed over its final
name (``os.replace`` is atomic on POSIX), and the folder is fsynced so that the rename itself
is on disk: without that last step some filesystems undo the rename after a power cut.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Persist the renames made in ``directory``."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, temporary: Path | None = None) -> None:
    """``path`` holds ``data`` whole, or keeps what it held; ``temporary`` must be on the same
    filesystem (default: a hidden name beside ``path``)."""
    temporary = temporary or path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)
