"""Inter-reader disagreement: the protocol on toy masks by hand, and the real figures on the lidc64 test split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ssb_core.metrics import inter_reader_dataset, inter_reader_image
from tests.metrics.helpers import masks

logger = logging.getLogger(__name__)

LIDC64_TEST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "lidc64" / "test.npz"


def test_leave_one_reader_out_by_hand():
    # Readers 1100, 1100, 0011. Leave-one-out GED: reader 1 vs {1100, 0011}: 2·(1/2) − 0 − 2·1/4 = 1/2; reader 2
    # likewise; reader 3 vs {1100, 1100}: 2 − 0 − 0 = 2 → mean 1. D_max: (1 + 0)/2, (1 + 0)/2, 0 → 1/3.
    # D_DDI with the readers as samples: Dice rows (1/2, 1/2, 0) twice and (0, 0, 1): JS 0, 1, 1 →
    # 3/C(3,2) · 2 · (0 + 1 + 1) = 4.
    row = inter_reader_image(masks("1100", "1100", "0011"))
    assert row["ged"] == pytest.approx(1.0) and row["d_max"] == pytest.approx(1 / 3)
    assert row["ddi_exp"] == pytest.approx(4.0) and row["ddi_gen"] == pytest.approx(4.0)
    assert (row["num_samples"], row["num_readers"], row["num_readers_present"]) == (1, 2, 3)


def test_absent_readers_in_the_protocol():
    y = masks("1100", "1100", "0000")
    present = [True, True, False]
    excl = inter_reader_image(y, present, absent_readers="exclude")
    assert excl["ged"] == 0.0 and excl["d_max"] == 1.0 and excl["num_readers"] == 1
    # "empty": only the two present readers play the model, each against {other reader, empty}:
    # GED = 2·(1/2) − 0 − 2·1/4 = 1/2; D_max = 1/2.
    empty = inter_reader_image(y, present, absent_readers="empty")
    assert empty["ged"] == pytest.approx(0.5) and empty["d_max"] == pytest.approx(0.5) and empty["num_readers"] == 2
    assert empty["absent_readers"] == "empty"
    assert inter_reader_image(y, [True, False, False]) is None  # one reader: no disagreement to measure
    with pytest.raises(ValueError, match=r"reader_present: expected shape \(3,\)"):
        inter_reader_image(y, [True, False])


def test_dataset_skips_single_reader_images():
    stack = np.stack([masks("1100", "0110"), masks("1100", "0000")])
    res = inter_reader_dataset(stack, np.array([[True, True], [True, False]]), case_ids=["a", "b"])
    assert len(res) == 1 and res.per_case[0]["case_id"] == "a" and res.settings["skipped_images"] == 1
    assert res.absent_reader == "exclude" and "leave-one-reader-out" in res.settings["protocol"]
    with pytest.raises(ValueError, match=r"reader_present: expected shape \(2, 2\)"):
        inter_reader_dataset(stack, np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"masks: expected shape \(S, R, H, W\)"):
        inter_reader_dataset(stack[0])


@pytest.mark.shared_data
def test_inter_reader_figures_on_lidc64_test(report_figure):
    if not LIDC64_TEST.exists():
        pytest.skip(f"real data not available: {LIDC64_TEST.resolve()} is absent (../shared/data is not shipped with the repo)")
    data = np.load(LIDC64_TEST)
    results = {
        conv: inter_reader_dataset(data["masks"], data["reader_present"], method=f"lidc64 test readers ({conv})", absent_readers=conv)
        for conv in ("exclude", "empty")
    }
    for conv, r in results.items():
        line = (f"lidc64 test inter-reader, absent readers '{conv}', {len(r)} slices, N = 1 (leave-one-reader-out): "
                f"GED {r.mean('ged'):.3f} ± {r.std('ged'):.3f}, D_max {r.mean('d_max'):.3f}, "
                f"D_DDI^exp {r.mean('ddi_exp'):.3f} (median {r.median('ddi_exp'):.3f}; readers as samples)")
        logger.info(line)
        report_figure(line)
    excl, empty = results["exclude"], results["empty"]
    assert len(excl) == len(empty) == 155  # every test slice has at least two readers
    assert 0.3 < excl.mean("ged") < 1.0  # radiologists disagree, but far from completely (2 = disjoint)
    assert 0.5 < excl.mean("d_max") < 0.95
    assert 0.0 < excl.median("ddi_exp") < 0.5 and 0.0 <= excl.mean("ddi_exp") <= 6.0
    assert excl.values("ddi_exp") == pytest.approx(excl.values("ddi_gen"))  # symmetric Dice matrix under "exclude"
    assert empty.mean("ged") > excl.mean("ged") and empty.mean("d_max") < excl.mean("d_max")  # empty stand-ins disagree
    assert empty.mean("s_c") == pytest.approx(excl.mean("s_c"))  # empty masks add nothing to the readers' union
