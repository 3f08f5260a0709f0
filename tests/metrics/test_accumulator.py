"""MetricsAccumulator: image-by-image scoring under fixed, recorded conventions."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.metrics import MetricsAccumulator, image_metrics
from tests.metrics.helpers import masks


def test_add_and_result():
    acc = MetricsAccumulator("toy", absent_readers="empty", threshold=0.5, settings={"N": 2})
    s, y = masks("1100", "0110") * 0.9, masks("1100", "0110")
    first = acc.add(s, y, np.array([True, False]), case_id="c0")
    acc.add(s, y)
    assert len(acc) == 2 and acc.absent_readers == "empty"
    assert first == image_metrics(s, y, [True, False], absent_readers="empty", threshold=0.5)
    res = acc.result()
    assert res.conventions() == {"absent_readers": "empty", "ged_unbiased": False, "threshold": 0.5}
    assert res.settings == {"N": 2} and [r["case_id"] for r in res.per_case] == ["c0", "1"]
    acc.add(s, y)
    assert len(res) == 2  # result() is a snapshot


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"absent_readers": "drop"}, ValueError, "absent_readers must be one of"),
        ({"threshold": 1.0}, ValueError, "threshold"),
        ({"ged_unbiased": "no"}, TypeError, "ged_unbiased"),
        ({"settings": {"absent_readers": "empty"}}, ValueError, r"settings: expected no key among"),
    ],
)
def test_incompatible_options_rejected_at_construction(kwargs, err, match):
    with pytest.raises(err, match=match):
        MetricsAccumulator("x", **kwargs)


def test_bad_image_is_rejected_and_not_recorded():
    acc = MetricsAccumulator("x")
    with pytest.raises(ValueError, match="expected binary"):
        acc.add(masks("1100") * 0.5, masks("1100"))
    assert len(acc) == 0
