"""What a results file records about where its numbers came from: the command, the code, the input files.

Every ``results.json`` carries a ``run`` record (:func:`run_record`): the command line, the code version (git
commit, and whether the working tree had uncommitted changes) and the date. Checkpoints and data files are
identified by SHA-256; paths are written relative to the working directory (or as a bare file name when they
lie outside it), so a results file never names a folder of the machine it was computed on.
"""

from __future__ import annotations

import datetime as _dt
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ssb_core.hashing import file_sha256, tree_sha256

__all__ = ["display_path", "shorten_paths", "command_line", "code_version", "run_record", "file_record", "dataset_record"]

_REPO = Path(__file__).resolve().parents[2]


def display_path(path: str | Path) -> str:
    """``path`` relative to the working directory when inside it, else its file name."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.name


_ABSOLUTE = re.compile(r"(?<![\w.~])/(?:[\w.+-]+/)*[\w.+-]+")


def shorten_paths(text: str) -> str:
    """``text`` with every absolute path in it (also inside an inline YAML argument) shortened by :func:`display_path`."""
    return _ABSOLUTE.sub(lambda m: display_path(m.group(0)), text)


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed (``sys.argv`` by default), each absolute path shortened by :func:`display_path`."""
    return shlex.join(shorten_paths(a) for a in (sys.argv if argv is None else argv))


def code_version(repo: Path = _REPO) -> dict[str, Any]:
    """``{"git_commit": sha, "uncommitted_changes": bool}``, or the package version outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                                cwd=repo, timeout=10)
    except (OSError, subprocess.SubprocessError):
        commit = status = None
    if commit is not None and commit.returncode == 0:
        return {"git_commit": commit.stdout.strip(), "uncommitted_changes": bool(status and status.stdout.strip())}
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {"package_version": version("ssb-core")}
    except PackageNotFoundError:
        return {"package_version": None}


def run_record(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``run`` record of a results file: command, code version, UTC date."""
    return {"command": command_line(argv), "code": code_version(),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}


def file_record(path: str | Path) -> dict[str, Any]:
    """``{"path": display_path, "sha256": ...}`` of a file (a checkpoint, a data file)."""
    return {"path": display_path(path), "sha256": file_sha256(path)}


def dataset_record(config: dict, images: int) -> dict[str, Any]:
    """What a results file records about its data: the dataset config (paths shortened), the image count, and the
    SHA-256 of its file (or of its folder's files, :func:`~ssb_core.hashing.tree_sha256`)."""
    record: dict[str, Any] = {"config": dict(config), "images": images}
    path = config.get("path")
    if isinstance(path, (str, Path)):
        record["config"]["path"] = display_path(path)
        if Path(path).is_file():
            record["sha256"] = file_sha256(path)
        elif Path(path).is_dir():
            record["sha256"] = tree_sha256(path)
    return record
