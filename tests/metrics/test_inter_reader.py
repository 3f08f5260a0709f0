"""Inter-reader disagreement: the protocol on toy masks, and the real figures on the lidc64 test split."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ssb_core.metrics import image_metrics, inter_reader_dataset, inter_reader_image
from tests.conftest import shared_data

logger = logging.getLogger(__name__)


def test_leave_one_reader_out_on_toy_masks():
    readers = np.array([[[1, 1, 0, 0]], [[1, 1, 0, 0]], [[0, 0, 1, 1]]])
    row = inter_reader_image(readers)
    loo = [image_metrics(readers[[i]], np.delete(readers, i, 0)).ged for i in range(3)]
    assert row["ged"] == pytest.approx(np.mean(loo))
    assert row["ddi_exp"] == pytest.approx(image_metrics(readers, readers).ddi_exp)
    assert inter_reader_image(readers, reader_present=[True, False, False]) is None


@pytest.mark.shared_data
def test_inter_reader_figures_on_lidc64_test(report_figure):
    data = np.load(shared_data("lidc64", "test.npz"))
    res = inter_reader_dataset(data["masks"], data["reader_present"])
    kohl = inter_reader_dataset(data["masks"], np.ones_like(data["reader_present"]), method="readers (absent = empty)")
    for r in (res, kohl):
        line = (f"lidc64 test, {r.method} over {len(r.per_image)} slices: GED {r.mean('ged'):.3f}, "
                f"D_max {r.mean('d_max'):.3f}, D_DDI^exp {r.mean('ddi_exp'):.3f}")
        logger.info(line)
        report_figure(line)
    assert len(res.per_image) == 155  # every test slice has at least two readers
    assert 0.2 < res.mean("ged") < 1.2  # readers disagree, but not completely
    assert 0.4 < res.mean("d_max") < 0.95
    assert kohl.mean("ged") > res.mean("ged")  # empty stand-ins for absent readers add disagreement
