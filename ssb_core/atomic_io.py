"""Writing a file completely or not at all (checkpoints, labels, the datastore index, sidecar JSON).

The bytes go to a temporary file in the destination's own folder (same file system, named
``.ssb-tmp-<name>.*``), are flushed to disk (``fsync``), and the temporary file is renamed over the
destination (``os.replace``, atomic on POSIX); the folder is then fsynced so the rename itself survives a power
cut. A reader sees the old file or the new one, never half of one; a crash leaves at most a temporary file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["TEMP_PREFIX", "atomic_write", "atomic_copy", "atomic_write_text", "atomic_write_json"]

TEMP_PREFIX = ".ssb-tmp-"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles: the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(dest: str | os.PathLike, fill: Callable[[BinaryIO], object]) -> Path:
    """Create ``dest`` atomically from ``fill(f)``, which writes the bytes to the open binary file ``f``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)
    return dest


def atomic_copy(src: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dest`` atomically."""
    def fill(f: BinaryIO) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)

    return atomic_write(dest, fill)


def atomic_write_text(dest: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``dest`` atomically."""
    return atomic_write(Path(dest), lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(dest: str | os.PathLike, data: object) -> Path:
    """Write ``data`` as indented JSON with sorted keys to ``dest`` atomically."""
    return atomic_write_text(dest, json.dumps(data, indent=2, sort_keys=True))
