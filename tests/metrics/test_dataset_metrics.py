"""Dataset-level results: NaN-aware statistics, conventions, JSON round trip, the markdown table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ssb_core.metrics import DatasetMetrics, image_metrics, markdown_header
from tests.metrics.helpers import masks


def _result() -> DatasetMetrics:
    res = DatasetMetrics("toy", absent_readers="empty", settings={"N": 2, "nfe": np.int64(5)})
    same = masks("1100", "0110")
    res.append(image_metrics(same, same, absent_readers="empty"), case_id="a")  # GED 0
    res.append(image_metrics(same[:1], masks("0011"), absent_readers="empty"), case_id="b")  # GED 2, one reader: D_DDI^exp NaN
    return res


def test_statistics_skip_nan_and_count():
    res = _result()
    assert len(res) == 2 and res.per_image[1]["case_id"] == "b"
    assert res.mean("ged") == pytest.approx(1.0) and res.std("ged") == pytest.approx(1.0) and res.median("ged") == 1.0
    assert res.count("ddi_exp") == 1 and res.summary()["ddi_exp"]["n"] == 1
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


def test_json_round_trip():
    res = _result()
    text = res.to_json()
    doc = json.loads(text)
    assert doc["per_image"][1]["ddi_exp"] is None  # NaN -> null
    assert doc["conventions"]["absent_readers"] == "empty" and doc["settings"]["nfe"] == 5
    back = DatasetMetrics.from_json(text)
    assert back.method == "toy" and back.absent_readers == "empty" and back.threshold is None
    assert math.isnan(back.per_image[1]["ddi_exp"]) and back.mean("ged") == res.mean("ged")
    assert back.per_image[0]["case_id"] == "a"
    with pytest.raises(ValueError, match="expected a JSON document with format"):
        DatasetMetrics.from_json('{"method": "x"}')


def test_markdown_header_and_row():
    res = _result()
    header = markdown_header(extra_columns=("N", "NFE"))
    row = res.markdown_row("SSB (ours)", {"N": 2, "NFE": 5})
    assert header.splitlines()[0].startswith("| method | N | NFE | GED ↓ | D_max ↑")
    assert header.splitlines()[0].count("|") == row.count("|") == header.splitlines()[1].count("|")
    assert row.startswith("| SSB (ours) | 2 | 5 | 1.000 ± 1.000 |")
    assert res.markdown_row(extra_columns=[2, 5]).startswith("| toy | 2 | 5 |")
    short = DatasetMetrics.markdown_header(metrics=("ged", "ddi_gen"))
    assert short.splitlines()[0] == "| method | GED ↓ | D_DDI^gen ↑ |"
    assert DatasetMetrics("none").markdown_row(metrics=("ged",)) == "| none | – |"


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"method": ""}, ValueError, "method"),
        ({"method": "x", "absent_readers": "drop"}, ValueError, "absent_readers"),
        ({"method": "x", "threshold": 2.0}, ValueError, "threshold"),
        ({"method": "x", "ged_unbiased": 1}, TypeError, "ged_unbiased"),
    ],
)
def test_bad_construction(kwargs, err, match):
    with pytest.raises(err, match=match):
        DatasetMetrics(**kwargs)
