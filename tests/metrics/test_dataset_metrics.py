"""Dataset-level results: NaN-aware statistics, conventions, the results.json row round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ssb_core.metrics import DatasetMetrics, image_metrics
from tests.metrics.helpers import masks


def _result() -> DatasetMetrics:
    res = DatasetMetrics("toy", absent_reader="empty", settings={"N": 2, "nfe": np.int64(5)})
    same = masks("1100", "0110")
    res.append(image_metrics(same, same, absent_readers="empty"), case_id="a")  # GED 0
    res.append(image_metrics(same[:1], masks("0011"), absent_readers="empty"), case_id="b")  # GED 2, one reader: D_DDI^exp NaN
    return res


def test_statistics_skip_nan_and_count():
    res = _result()
    assert len(res) == 2 and res.per_case[1]["case_id"] == "b"
    assert res.mean("ged") == pytest.approx(1.0) and res.std("ged") == pytest.approx(1.0) and res.median("ged") == 1.0
    assert res.count("ddi_exp") == 1 and res.summary["ddi_exp"] == res.mean("ddi_exp") and "time_per_image_s" not in res.summary
    assert res.mean("ddi_exp") == pytest.approx(10 - 6 * math.log2(3))
    assert math.isnan(DatasetMetrics("empty").mean("ged"))
    with pytest.raises(ValueError, match="expected names from"):
        res.values("dice")


def test_conventions_are_recorded_and_not_mixed():
    res = _result()
    assert res.conventions() == {"absent_readers": "empty", "ged_unbiased": False, "threshold": None}
    assert "empty masks" in res.describe_conventions() and "biased" in res.describe_conventions()
    with pytest.raises(ValueError, match="expected metrics computed with absent_readers='empty'"):
        res.append(image_metrics(masks("1100"), masks("1100")))  # computed with "exclude"


def test_results_json_row_round_trip():
    res = _result()
    res.per_case[0]["time_s"] = res.per_case[1]["time_s"] = 0.5
    doc = json.loads(json.dumps(res.to_dict(), default=lambda x: x.item()))  # numpy scalars: as results.json writes them
    assert doc["absent_reader"] == "empty" and doc["settings"]["nfe"] == 5 and doc["summary"]["ged"] == pytest.approx(1.0)
    assert doc["summary"]["time_per_image_s"] == 0.5
    doc["per_case"][1]["ddi_exp"] = None  # a null in the file reads as NaN
    back = DatasetMetrics.from_dict(doc)
    assert back.name == "toy" and back.absent_reader == "empty" and back.threshold is None
    assert math.isnan(back.per_case[1]["ddi_exp"]) and back.mean("ged") == res.mean("ged")
    assert back.per_case[0]["case_id"] == "a"
    old = {"name": "x", "nfe": 2, "num_candidates": 8, "seed": 0, "absent_reader": "exclude", "summary": {"ged": 9.0},
           "per_case": [{"case_id": "a", "ged": 0.25}], "settings": {}, "checkpoint_sha256": None, "dataset_sha256": None}
    assert DatasetMetrics.from_dict(old).summary == {"ged": 0.25}  # rows written before: the summary is recomputed


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"name": ""}, ValueError, "name"),
        ({"name": "x", "absent_reader": "drop"}, ValueError, "absent_readers"),
        ({"name": "x", "threshold": 2.0}, ValueError, "threshold"),
        ({"name": "x", "ged_unbiased": 1}, TypeError, "ged_unbiased"),
    ],
)
def test_bad_construction(kwargs, err, match):
    with pytest.raises(err, match=match):
        DatasetMetrics(**kwargs)
