"""The benchmark's quick mode, once per CI run, so that ``scripts/benchmark.py`` keeps working (no timing is
asserted: only that every part ran and reported its figures)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, shared_data


@pytest.mark.slow  # a real server start plus a few samplings and training steps: about a minute or two
def test_quick_benchmark_writes_every_table(tmp_path):
    shared_data("lidc64", "test.npz")  # skips with the reason when ../shared/data is absent
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py"), "--quick", "--threads", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (tmp_path / "benchmark.md").read_text()
    assert "| SSB | torch | 64² | 1 | 0 |" in report and "| Gaussian-start (same network) | torch | 64² | 20 |" in report
    assert "`/infer` through the real server" in report and "| fine-tune on 20 new reader labels" in report
    results = json.loads((tmp_path / "benchmark.json").read_text())
    server = results["server"]["settings"][0]
    assert server["concurrent"]["failed"] == 0 and server["sequential"]["n"] == 4
    load = results["server"]["under_training"]
    assert load["failed"] == 0 and load["n"] >= 1 and load["training_task"], load
    assert results["sampling"]["quality"]["SSB|1"]["images"] == 8
    assert results["training"]["throughput"]["slices_per_s"] > 0
    if (REPO_ROOT.parent / "shared" / "data" / "lidc3d").is_dir():  # the whole-scan part: one real nodule, NFE 2
        scan = results["whole_scan"]
        assert scan["quality"][0]["nfe"] == 2 and 0 <= scan["quality"][0]["d_max"] <= 1
        assert scan["server"]["n"] == 2 and scan["server"]["per_nodule"][0]["slices"] >= 1
        assert "A click on each real nodule" in report
        views = scan["views"]  # one lesion four ways and a save: one sampling with the cache, one per request without
        assert views["cache"]["samplings_per_lesion"] == 1 and views["no_cache"]["samplings_per_lesion"] == 5
        assert "| samplings per lesion | 1 | 5 |" in report
