"""SHA-256 of a file, read in 1 MiB chunks, or of a folder of files (checkpoints, data: what identifies a result's inputs)."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256", "tree_sha256"]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_sha256(folder: str | Path) -> str:
    """Hex SHA-256 of a folder's files: over the sorted lines ``<relative path> <file SHA-256>`` (names and bytes
    count; timestamps and the folder's own location do not)."""
    root = Path(folder)
    lines = [f"{p.relative_to(root).as_posix()} {file_sha256(p)}\n" for p in sorted(root.rglob("*")) if p.is_file()]
    return hashlib.sha256("".join(lines).encode()).hexdigest()
