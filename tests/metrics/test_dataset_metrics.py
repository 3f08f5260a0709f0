"""Dataset-level results: accumulation, NaN-aware means, JSON round trip, the markdown row."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ssb_core.metrics import DatasetMetrics, MetricsAccumulator, markdown_header


def test_accumulate_serialise_and_tabulate():
    acc = MetricsAccumulator("toy", absent_readers="empty", settings={"num_candidates": 2, "nfe": 5})
    same = np.array([[[1, 1, 0, 0]], [[0, 1, 1, 0]]])
    acc.add(same, same, case_id="a")
    acc.add(same[:1], np.array([[[0, 0, 1, 1]]]), case_id="b")  # disjoint: GED 2; one reader: D_DDI NaN
    res = acc.result()
    assert res.settings["absent_readers"] == "empty" and res.settings["nfe"] == 5
    assert res.mean("ged") == pytest.approx(1.0) and res.std("ged") == pytest.approx(1.0)
    assert res.summary()["ddi_exp"]["n"] == 1
    text = res.to_json()
    assert json.loads(text)["per_image"][1]["ddi_exp"] is None  # NaN -> null
    back = DatasetMetrics.from_json(text)
    assert back.method == "toy" and math.isnan(back.per_image[1]["ddi_exp"]) and back.mean("ged") == res.mean("ged")
    header = markdown_header(extra=("NFE",))
    row = res.markdown_row(extra={"NFE": 5})
    assert header.splitlines()[0].count("|") == row.count("|")
    assert row.startswith("| toy | 5 | 1.000 ± 1.000 |")


def test_bad_convention_rejected_at_construction():
    with pytest.raises(ValueError, match="absent_readers"):
        MetricsAccumulator("x", absent_readers="drop")
