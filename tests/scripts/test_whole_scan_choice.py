"""scripts/whole_scan_choice.py on real data: lidc128 validation nodules stacked in 3D, clicked through the whole-scan
path, scored per start perturbation."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT, shared_data

sys.path.insert(0, str(REPO_ROOT / "scripts"))


@pytest.mark.shared_data
def test_whole_scan_choice_scores_each_start_perturbation_on_stacked_validation_nodules(tmp_path):
    import whole_scan_choice

    data = shared_data("lidc128")
    torch.set_num_threads(1)
    assert whole_scan_choice.main(["--data", str(data), "--start-noise", "0.05", "0", "--max-nodules", "3",
                                   "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "results.json").read_text())
    assert set(out["summary"]) == {"0.05", "0"} and out["sampling"]["num_candidates"] == 8
    for rows in out["nodules"].values():
        assert len(rows) == 3 and all(r["found"] for r in rows)  # three real nodules, each found
        assert all(0 < r["volume_ratio"] < 3 and 0 < r["d_max"] <= 1 and r["one_region"] == 1.0 for r in rows)
    # without the start perturbation the candidates are more alike
    assert out["summary"]["0"]["all"]["candidate_dice"] > out["summary"]["0.05"]["all"]["candidate_dice"]
    assert "| 0.05 (all) | 3 |" in (tmp_path / "results.md").read_text()
