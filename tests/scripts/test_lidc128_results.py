"""The lidc128 results block and the diversity grid, from tiny runs (the scripts' own logic, not the models)."""

from __future__ import annotations

import sys

from ssb_core.evaluation.api import evaluate_samplers
from ssb_core.evaluation.samplers import SamplerSpec
from tests.conftest import REPO_ROOT
from tests.evaluation.test_tables import _blob as square  # a "method" drawing a centred square
from tests.training._helpers import lidc64_slices

sys.path.insert(0, str(REPO_ROOT / "scripts"))


def test_lidc128_block_pairs_ssb_with_the_prob_unet_at_each_n(tmp_path):
    import compare_methods
    import results

    data = lidc64_slices("test", 3)
    ssb = [SamplerSpec(square(6), "SSB", nfe, {}, "a" * 64) for nfe in (1, 2)]
    prob_unet = SamplerSpec(square(3), "Prob. U-Net", 1, {}, "b" * 64)
    for folder, n, specs in (("n16", 4, [*ssb, prob_unet]), ("n8-ssb+prob_unet", 2, [ssb[1], prob_unet])):
        evaluate_samplers(specs, data, tmp_path / folder, num_candidates=n, inter_reader=True, montages=0, shape=True,
                          absent_reader=("exclude", "empty"), dataset_info={"sha256": "d" * 64})
    assert list(compare_methods.main_tables(tmp_path)) == ["n16", "n8"]
    block = results.lidc128_blocks(tmp_path)["lidc128-test"]
    assert "| SSB | 2 | 4 | 3 | excluded |" in block and "| SSB | 2 | 2 | 3 | as empty |" in block
    assert "| SSB | 1 |" not in block  # the NFE sweep stays in the results folder's README
    assert block.count("N = 4: SSB NFE 2 − Prob. U-Net NFE 1") == 2 and block.count("N = 2: SSB NFE 2 − Prob. U-Net") == 2
    assert "one region ↑" in block and "| Flow-SSN | 0.181 |" in block and "0.5 mm" in block
    assert "Not computed yet" in results.lidc128_blocks(tmp_path / "none")["lidc128-test"]


def test_a_new_lidc128_run_removes_its_own_earlier_runs_only(tmp_path):
    import results

    for name in ("n16-ssb+prob_unet", "n8-ssb+prob_unet", "sweep-ssb+gaussian", "presence_draws"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text("{}")
    (tmp_path / "README.md").write_text("tables")
    results.clear_lidc128_runs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "presence_draws"]


def test_diversity_grid_puts_the_checkpoints_settings_first_once():
    from diversity_sources import Variant, variants

    reference = Variant(True, 0.1, False, 0.0)
    grid = variants(["sde", "ode"], [0.0, 0.1, 0.2], [0.0, 1.0], True, reference)
    assert grid[0] == reference and len(grid) == len(set(grid)) == 18
    assert all(v.guidance is None for v in grid if v.null_label)
    assert variants(["ode"], [0.0], [1.0], False, reference) == [reference, Variant(False, 0.0, False, 1.0)]
