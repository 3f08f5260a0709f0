"""Paired bootstrap intervals: coverage of a known difference, pairing by case, the claim rule."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.evaluation.bootstrap import compare_rows, paired_bootstrap, supports
from ssb_core.metrics import DatasetMetrics


def test_interval_holds_the_true_difference_and_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, 400)
    b = base + rng.normal(0, 0.05, 400)
    a = base - 0.03 + rng.normal(0, 0.05, 400)  # a is 0.03 lower (better GED) on average
    wide = paired_bootstrap(a[:40], b[:40], metric="ged", num_resamples=4000)
    narrow = paired_bootstrap(a, b, metric="ged", num_resamples=4000)
    assert narrow.low < -0.03 < narrow.high
    assert (narrow.high - narrow.low) < (wide.high - wide.low)
    assert supports(narrow) and narrow.n == 400


def test_pairing_removes_the_between_image_spread():
    # a huge spread between images, a small constant difference: only a paired interval sees it
    base = np.linspace(0.0, 1.0, 50)
    d = paired_bootstrap(base + 0.01, base, metric="d_max", num_resamples=2000)
    assert d.low > 0 and supports(d)
    assert not supports(paired_bootstrap(base, base + 0.01, metric="d_max", num_resamples=2000))


def test_nan_images_left_out_and_no_claim_without_images():
    d = paired_bootstrap([0.1, np.nan, 0.3], [0.2, 0.5, np.nan], metric="ged", num_resamples=100)
    assert d.n == 1 and d.mean == pytest.approx(-0.1)
    empty = paired_bootstrap([np.nan], [0.1], metric="ged", num_resamples=10)
    assert empty.n == 0 and not supports(empty)
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap([0.1, 0.2], [0.1], num_resamples=10)


def _row(name, convention, values):
    return DatasetMetrics(name, 1, 4, 0, convention, [{"case_id": c, "ged": v} for c, v in values.items()])


def test_compare_rows_pairs_by_case_id_and_refuses_mismatches():
    a = _row("A", "exclude", {"x": 0.1, "y": 0.2, "z": 0.3})
    b = _row("B", "exclude", {"z": 0.4, "x": 0.2, "y": 0.3})  # another order
    (d,) = compare_rows(a, b, metrics=("ged",), num_resamples=200)
    assert d.mean == pytest.approx(-0.1) and d.low == pytest.approx(-0.1) and d.high == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="same images"):
        compare_rows(a, _row("B", "exclude", {"x": 0.1, "y": 0.2}), metrics=("ged",))
    with pytest.raises(ValueError, match="absent-reader"):
        compare_rows(a, _row("B", "empty", {"x": 0.1, "y": 0.2, "z": 0.3}), metrics=("ged",))
