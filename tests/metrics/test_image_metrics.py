"""Every metric on small masks whose values were computed by hand (1×4-pixel masks, written as bit strings)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from ssb_core.metrics import ddi_from_dice_matrix, image_metrics


def masks(*bits: str) -> np.ndarray:
    """``masks("1100", "0110")`` -> (2, 1, 4) uint8."""
    return np.array([[[int(c) for c in b]] for b in bits], dtype=np.uint8)


NAN = float("nan")

# (case, samples, readers, expected subset of ImageMetrics fields). Hand computations:
# - "n3_m2": IoU(S, Y) = [[1/2, 1/3], [1, 2/3], [1/3, 2/3]]; d_SS off-diagonal 1/2, 1, 2/3; d(Y1, Y2) = 1/3;
#   GED = 2·5/12 − 13/27 − 1/6 = 5/27. Dice(Y, S) = [[2/3, 1, 1/2], [1/2, 4/5, 4/5]] → D_max = (1 + 4/5)/2.
#   Unions both 1110 → S_c = 1. V^Y = [3/16]; V^S = [3/16, 11/16, 1/2] → D_A = 1 − (1/2 + 0)/2 = 3/4.
#   CI = 3·1·0.9·0.75 / 2.65; HM = 3 / (1 + 1/0.9 + 1/0.75). HM-IoU over lcm = 6 copies: 25/36.
CASES = [
    ("identical", masks("1100", "0110"), masks("1100", "0110"),
     dict(ged=0.0, d_max=1.0, s_c=1.0, d_a=1.0, ci=1.0, ci_hm=1.0, hm_iou=1.0)),
    ("all_empty", masks("0000"), masks("0000", "0000"),
     dict(ged=0.0, d_max=1.0, s_c=1.0, d_a=1.0, ci=1.0, ci_hm=1.0, ddi_exp=0.0, ddi_gen=NAN, hm_iou=1.0)),
    ("empty_readers_full_sample", masks("1111"), masks("0000", "0000"),
     dict(ged=2.0, d_max=0.0, s_c=1.0, d_a=1.0, ci=0.0, ci_hm=0.0, hm_iou=0.0)),
    ("empty_sample_full_reader", masks("0000"), masks("1111"),
     dict(ged=2.0, d_max=0.0, s_c=0.0, d_a=1.0, ci=0.0, ci_hm=0.0, ddi_exp=NAN, ddi_gen=NAN, hm_iou=0.0)),
    ("disjoint", masks("1100", "1100"), masks("0011"),
     dict(ged=2.0, d_max=0.0, s_c=0.0, d_a=1.0, ci=0.0, hm_iou=0.0)),
    ("n3_m2", masks("1000", "1100", "0110"), masks("1100", "1110"),
     dict(ged=5 / 27, d_max=0.9, s_c=1.0, d_a=0.75, ci=3 * 0.9 * 0.75 / 2.65, ci_hm=3 / (1 + 1 / 0.9 + 1 / 0.75),
          ddi_exp=0.11657692489957858, ddi_gen=0.09363644562331917, hm_iou=25 / 36, num_samples=3, num_readers=2)),
]


@pytest.mark.parametrize("case, samples, readers, expected", CASES, ids=[c[0] for c in CASES])
def test_hand_computed_values(case, samples, readers, expected):
    got = image_metrics(samples, readers).to_dict()
    for name, want in expected.items():
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got[name]), (name, got[name])
        else:
            assert got[name] == pytest.approx(want, abs=1e-12), name


def test_unbiased_ged_excludes_the_diagonal():
    s, y = masks("1000", "1100", "0110"), masks("1100", "1110")
    # 2·5/12 − (13/3)/6 − (2/3)/2
    assert image_metrics(s, y, ged_unbiased=True).ged == pytest.approx(-2 / 9)
    # identical sets: biased 0, unbiased −2·mean off-diagonal distance (d = 2/3 here)
    same = masks("1100", "0110")
    assert image_metrics(same, same, ged_unbiased=True).ged == pytest.approx(2 / 3 - 4 / 3)


def test_ddi_matches_scipy_jensen_shannon_and_the_paper_constant():
    dice = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.4], [0.0, 0.0, 0.0]])
    js = lambda p, q: jensenshannon(p, q, base=2) ** 2  # noqa: E731  (scipy returns the square root)
    rows = [r / r.sum() if r.sum() else np.full(3, 1 / 3) for r in dice]  # all-zero row -> uniform
    want_exp = 3 / math.comb(3, 2) * sum(js(rows[i], rows[j]) for i in range(3) for j in range(3) if i != j)
    cols = [c / c.sum() for c in dice.T]
    want_gen = 3 / math.comb(3, 2) * sum(js(cols[i], cols[j]) for i in range(3) for j in range(3) if i != j)
    got_exp, got_gen = ddi_from_dice_matrix(dice)
    assert got_exp == pytest.approx(want_exp) and got_gen == pytest.approx(want_gen)


def test_absent_reader_conventions():
    s, y = masks("1100"), masks("1100", "0000")
    present = np.array([True, False])
    excl = image_metrics(s, y, reader_present=present, absent_readers="exclude")
    empty = image_metrics(s, y, reader_present=present, absent_readers="empty")
    assert excl.num_readers == 1 and excl.ged == 0.0 and excl.d_max == 1.0
    assert empty.num_readers == 2 and empty.d_max == 0.5  # (Dice 1 + Dice 0) / 2
    with pytest.raises(ValueError, match="no reader is present"):
        image_metrics(s, y, reader_present=np.array([False, False]))


def test_torch_numpy_and_probabilities_agree():
    s, y = masks("1000", "1100", "0110"), masks("1100", "1110")
    a = image_metrics(s, y)
    b = image_metrics(torch.from_numpy(s).bool(), torch.from_numpy(y).float())
    c = image_metrics(s * 0.8 + 0.1, y * 0.8 + 0.1, threshold=0.5)
    assert a == b == c


def test_3d_masks():
    s = np.zeros((2, 3, 3, 3), np.uint8)
    s[0, 1, 1, 1] = 1
    assert image_metrics(s, s).ged == 0.0


@pytest.mark.parametrize(
    "samples, readers, kwargs, err, match",
    [
        (masks("1100"), np.zeros((1, 1, 5)), {}, ValueError, "spatial shape"),
        (masks("1100") * 0.5, masks("1100"), {}, ValueError, "not binary"),
        (np.full((1, 1, 4), np.nan), masks("1100"), {"threshold": 0.5}, ValueError, "NaN"),
        (np.zeros((4,)), masks("1100"), {}, ValueError, r"\(K, H, W\)"),
        (np.zeros((0, 1, 4)), masks("1100"), {}, ValueError, "at least one mask"),
        ([[1, 0]], masks("1100"), {}, TypeError, "numpy array or torch tensor"),
        (masks("1100"), masks("1100"), {"absent_readers": "ignore"}, ValueError, "absent_readers"),
        (masks("1100"), masks("1100"), {"reader_present": np.array([True, True])}, ValueError, r"reader_present must have shape \(1,\)"),
        (masks("1100"), masks("1100"), {"threshold": 1.5}, ValueError, "threshold"),
    ],
)
def test_bad_inputs(samples, readers, kwargs, err, match):
    with pytest.raises(err, match=match):
        image_metrics(samples, readers, **kwargs)
