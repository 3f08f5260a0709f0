"""Every metric of one image on small masks whose values were computed by hand (1×4 and 2×2 pixel masks).

Hand computations (d = 1 - IoU; "biased" = within-set means over the full matrices, "unbiased" = over i != j):

- identical {1100, 0110} twice: IoU(1100, 0110) = 1/3. Biased GED = 2·(1/3) − 1/3 − 1/3 = 0; unbiased
  = 2/3 − 2/3 − 2/3 = −2/3. Dice(1100, 0110) = 1/2, so both D_DDI rows are (2/3, 1/3) and (1/3, 2/3), whose
  JS (base 2) is 5/3 − log2 3; D_DDI = 3/C(2,2) · 2 · JS = 10 − 6 log2 3.
- n3_m2: S = {1000, 1100, 0110}, Y = {1100, 1110}. IoU(S, Y) = [[1/2, 1/3], [1, 2/3], [1/3, 2/3]] → cross 5/12;
  d(S, S') off-diagonal 1/2, 1, 2/3 → biased 13/27, unbiased 13/18; d(Y1, Y2) = 1/3 → biased 1/6, unbiased 1/3.
  GED = 5/6 − 13/27 − 1/6 = 5/27; unbiased 5/6 − 13/18 − 1/3 = −2/9. Dice(Y, S) = [[2/3, 1, 1/2],
  [1/2, 4/5, 4/5]] → D_max = (1 + 4/5)/2 = 9/10. Unions both 1110 → S_c = 1. V^Y = [3/16],
  V^S = [3/16, 11/16, 1/2] → D_A = 1 − (1/2 + 0)/2 = 3/4. CI = 3·1·0.9·0.75/2.65; CI_HM = 27/31.
  HM-IoU over lcm(3, 2) = 6 copies: each sample used twice, each reader three times: 25/36.
- one reader empty (N = 1, M = 2): S = {1100}, Y = {1100, 0000}: cross d = (0 + 1)/2; d(Y1, Y2) = 1 →
  biased 1/2, unbiased 1: GED = 1/2 (biased), 0 (unbiased). D_max = (1 + 0)/2. V^Y = [1/4], V^S = [0] →
  D_A = 3/4. CI = 3·1·0.5·0.75/2.25 = 1/2; CI_HM = 3/(1 + 2 + 4/3) = 9/13. HM-IoU: the sample twice, 1/2.
- empty samples (2×2 masks): S = {00/00, 00/00}, Y = {10/00, 11/00}: cross d = 1, d(S, S') = 0,
  d(Y1, Y2) = 1/2 → GED 2 − 1/4 = 7/4 (biased), 2 − 1/2 = 3/2 (unbiased). V^Y = [3/16] → D_A = 13/16.
  The Dice matrix is all zero, every distribution uniform → D_DDI = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssb_core.metrics import METRIC_NAMES, ImageMetrics, image_metrics
from tests.metrics.helpers import NAN, assert_close, js2, masks

_LOG3 = math.log2(3)


def _n3_m2_ddi() -> tuple[float, float]:
    norm = lambda v: [x / sum(v) for x in v]  # noqa: E731
    rows = [norm([2 / 3, 1, 1 / 2]), norm([1 / 2, 4 / 5, 4 / 5])]
    cols = [norm([2 / 3, 1 / 2]), norm([1, 4 / 5]), norm([1 / 2, 4 / 5])]
    exp = 3 / math.comb(2, 2) * 2 * js2(rows[0], rows[1])
    gen = 3 / math.comb(3, 2) * 2 * (js2(cols[0], cols[1]) + js2(cols[0], cols[2]) + js2(cols[1], cols[2]))
    return exp, gen


_EXP, _GEN = _n3_m2_ddi()

# (case, samples, readers, expected). "ged_u" is the unbiased GED.
CASES = [
    ("identical", masks("1100", "0110"), masks("1100", "0110"),
     dict(ged=0.0, ged_u=-2 / 3, d_max=1.0, s_c=1.0, d_a=1.0, ci=1.0, ci_hm=1.0,
          ddi_exp=10 - 6 * _LOG3, ddi_gen=10 - 6 * _LOG3, hm_iou=1.0)),
    ("all_empty", masks("0000"), masks("0000", "0000"),
     dict(ged=0.0, ged_u=0.0, d_max=1.0, s_c=1.0, d_a=1.0, ci=1.0, ci_hm=1.0, ddi_exp=0.0, ddi_gen=NAN, hm_iou=1.0)),
    ("empty_readers_full_sample", masks("1111"), masks("0000", "0000"),
     dict(ged=2.0, ged_u=2.0, d_max=0.0, s_c=1.0, d_a=1.0, ci=0.0, ci_hm=0.0, ddi_exp=0.0, ddi_gen=NAN, hm_iou=0.0)),
    ("empty_sample_full_reader", masks("0000"), masks("1111"),
     dict(ged=2.0, ged_u=2.0, d_max=0.0, s_c=0.0, d_a=1.0, ci=0.0, ci_hm=0.0, ddi_exp=NAN, ddi_gen=NAN, hm_iou=0.0)),
    ("empty_samples_2x2", masks("00/00", "00/00"), masks("10/00", "11/00"),
     dict(ged=7 / 4, ged_u=3 / 2, d_max=0.0, s_c=0.0, d_a=13 / 16, ci=0.0, ci_hm=0.0, ddi_exp=0.0, ddi_gen=0.0, hm_iou=0.0)),
    ("disjoint", masks("1100", "1100"), masks("0011"),
     dict(ged=2.0, ged_u=2.0, d_max=0.0, s_c=0.0, d_a=1.0, ci=0.0, ci_hm=0.0, ddi_exp=NAN, ddi_gen=0.0, hm_iou=0.0)),
    ("one_reader_empty", masks("1100"), masks("1100", "0000"),
     dict(ged=0.5, ged_u=0.0, d_max=0.5, s_c=1.0, d_a=0.75, ci=0.5, ci_hm=9 / 13, ddi_exp=0.0, ddi_gen=NAN, hm_iou=0.5)),
    ("n3_m2", masks("1000", "1100", "0110"), masks("1100", "1110"),
     dict(ged=5 / 27, ged_u=-2 / 9, d_max=0.9, s_c=1.0, d_a=0.75, ci=3 * 0.9 * 0.75 / 2.65, ci_hm=27 / 31,
          ddi_exp=_EXP, ddi_gen=_GEN, hm_iou=25 / 36)),
]


@pytest.mark.parametrize("case, samples, readers, expected", CASES, ids=[c[0] for c in CASES])
def test_hand_computed_values(case, samples, readers, expected):
    got = image_metrics(samples, readers)
    got_u = image_metrics(samples, readers, ged_unbiased=True)
    for name, want in expected.items():
        if name == "ged_u":
            assert_close(got_u.ged, want, "unbiased ged")
        else:
            assert_close(got[name], want, name)
    assert got.num_samples == samples.shape[0] and got.num_readers == readers.shape[0]
    assert not got.ged_unbiased and got_u.ged_unbiased and got.absent_readers == "exclude"


def test_result_is_a_mapping_with_its_conventions():
    m = image_metrics(masks("1100"), masks("1100", "0000"), reader_present=[True, False], absent_readers="empty")
    assert isinstance(m, ImageMetrics)
    assert m["ged"] == m.ged and dict(m)["d_max"] == m.d_max and "ged" in m and "nope" not in m
    assert list(m.metrics()) == list(METRIC_NAMES)
    assert (m.absent_readers, m.num_readers, m.num_readers_present, m.ged_unbiased) == ("empty", 2, 1, False)
    with pytest.raises(KeyError):
        m["nope"]


def test_absent_reader_conventions():
    s, y = masks("1100"), masks("1100", "0110")  # the second slot holds a mask, but its reader is absent
    present = np.array([True, False])
    excl = image_metrics(s, y, reader_present=present, absent_readers="exclude")
    empty = image_metrics(s, y, reader_present=present, absent_readers="empty")
    assert (excl.num_readers, excl.ged, excl.d_max) == (1, 0.0, 1.0)
    # "empty" replaces the absent slot by an empty mask: the "one_reader_empty" case above
    assert (empty.num_readers, empty.ged, empty.d_max, empty.d_a) == (2, 0.5, 0.5, 0.75)
    with pytest.raises(ValueError, match="at least one present reader"):
        image_metrics(s, y, reader_present=np.array([False, False]))
    none_present = image_metrics(s, y, reader_present=np.array([False, False]), absent_readers="empty")
    assert none_present.d_max == 0.0 and none_present.num_readers_present == 0


def test_torch_numpy_and_probabilities_agree():
    s, y = masks("1000", "1100", "0110"), masks("1100", "1110")
    a = image_metrics(s, y)
    b = image_metrics(torch.from_numpy(s).bool(), torch.from_numpy(y).float(), reader_present=torch.tensor([True, True]))
    c = image_metrics(s * 0.8 + 0.1, y * 0.8 + 0.1, threshold=0.5)
    d = image_metrics(torch.from_numpy(s * 0.8 + 0.1).to(torch.bfloat16), y, threshold=0.5)
    assert a == b == c == d
    assert a.isclose(b)


def test_3d_masks():
    s = np.zeros((2, 3, 3, 3), np.uint8)
    s[0, 1, 1, 1] = 1
    m = image_metrics(s, s)
    assert m.ged == 0.0 and m.d_max == 1.0 and m.hm_iou == 1.0


@pytest.mark.parametrize(
    "samples, readers, kwargs, err, match",
    [
        (masks("1100"), np.zeros((1, 1, 5)), {}, ValueError, r"expected \(M, 1, 4\), got \(1, 1, 5\)"),
        (masks("1100"), np.zeros((1, 1, 4, 1)), {}, ValueError, r"expected \(M, 1, 4\), got \(1, 1, 4, 1\)"),
        (masks("1100") * 0.5, masks("1100"), {}, ValueError, "expected binary values 0/1"),
        (masks("1100") * 2, masks("1100"), {}, ValueError, "expected binary values"),
        (np.full((1, 1, 4), np.nan), masks("1100"), {"threshold": 0.5}, ValueError, "NaN/Inf"),
        (masks("1100"), np.full((1, 1, 4), np.inf), {}, ValueError, "readers: expected finite"),
        (np.zeros((4,)), masks("1100"), {}, ValueError, r"expected shape \(K, H, W\) or \(K, H, W, D\), got \(4,\)"),
        (np.zeros((1, 1, 1, 1, 4)), masks("1100"), {}, ValueError, r"got \(1, 1, 1, 1, 4\)"),
        (np.zeros((0, 1, 4)), masks("1100"), {}, ValueError, "at least one mask"),
        (masks("1100"), np.zeros((0, 1, 4)), {}, ValueError, "readers: expected at least one mask"),
        ([[1, 0]], masks("1100"), {}, TypeError, "expected a numpy array or torch tensor, got list"),
        (np.array([[["a", "b"]]]), masks("11"), {}, TypeError, "dtype"),
        (masks("1100"), masks("1100"), {"absent_readers": "ignore"}, ValueError, "absent_readers must be one of"),
        (masks("1100"), masks("1100"), {"reader_present": np.array([True, True])}, ValueError,
         r"reader_present: expected shape \(1,\), got \(2,\)"),
        (masks("1100"), masks("1100", "1100"), {"reader_present": np.array([[True, True]])}, ValueError,
         r"expected shape \(2,\), got \(1, 2\)"),
        (masks("1100"), masks("1100"), {"reader_present": np.array([0.5])}, TypeError, "bool"),
        (masks("1100"), masks("1100"), {"reader_present": np.array([2])}, ValueError, "0/1"),
        (masks("1100"), masks("1100"), {"threshold": 1.5}, ValueError, r"\[0, 1\)"),
        (masks("1100"), masks("1100"), {"threshold": float("nan")}, ValueError, "threshold"),
        (masks("1100"), masks("1100"), {"threshold": "0.5"}, TypeError, "threshold"),
        (masks("1100"), masks("1100"), {"ged_unbiased": "yes"}, TypeError, "ged_unbiased"),
    ],
)
def test_bad_inputs(samples, readers, kwargs, err, match):
    with pytest.raises(err, match=match):
        image_metrics(samples, readers, **kwargs)
