"""Write a file completely or not at all (the app's side of :mod:`ssb_core.atomic_io`).

The bytes go to a temporary file in the destination's own folder (same file system), are flushed to disk
(``fsync``), and the temporary file is renamed over the destination (``os.replace``, atomic on POSIX); the
folder is then fsynced so the rename itself survives a power cut. A reader of the destination sees the old
file or the new one, never a half-written one; a crash leaves at most a temporary file named
``.ssb-tmp-*``, which no datastore pattern matches and :func:`sweep_temporaries` removes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ssb_core.atomic_io import TEMP_PREFIX, atomic_copy, atomic_write_text

__all__ = ["TEMP_PREFIX", "atomic_copy", "atomic_write_text", "sweep_temporaries"]

logger = logging.getLogger(__name__)


def sweep_temporaries(root: str | os.PathLike) -> int:
    """Remove the temporary files a crash left under ``root``; returns how many."""
    n = 0
    for path in Path(root).rglob(f"{TEMP_PREFIX}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            n += 1
    if n:
        logger.warning("removed %d temporary file(s) left by an interrupted write under %s", n, root)
    return n
