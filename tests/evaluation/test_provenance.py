"""Provenance of a results file: no machine path, the code version, file hashes."""

from __future__ import annotations

import hashlib
import shlex

from ssb_core.evaluation.provenance import code_version, command_line, display_path, file_record


def test_paths_are_written_relative_or_as_a_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert display_path(tmp_path / "sub" / "m.pt") == "sub/m.pt"
    assert display_path("/elsewhere/data/test.npz") == "test.npz"
    assert display_path("runs/x.pt") == "runs/x.pt"
    cmd = command_line(["prog", "--data", "/elsewhere/data/test.npz", f"--out={tmp_path}/sub", "-n", "8",
                        "{format: folders, path: '/elsewhere/data/lidc128-jpg'}", "../shared/data/x.npz"])
    assert shlex.split(cmd) == ["prog", "--data", "test.npz", "--out=sub", "-n", "8", "{format: folders, path: 'lidc128-jpg'}",
                                "../shared/data/x.npz"]


def test_code_version_and_file_hash(tmp_path):
    version = code_version()
    assert len(version.get("git_commit", "")) == 40 or "package_version" in version
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    assert file_record(f)["sha256"] == hashlib.sha256(b"weights").hexdigest()
