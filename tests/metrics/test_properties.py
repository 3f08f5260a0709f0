"""Properties that hold for any masks (hypothesis): GED symmetry and identity, agreement with PhiSeg's double
loop, ranges. Masks are 3×3 pixels, 1–4 per set; examples are kept few so the file runs in seconds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ssb_core.metrics import generalized_energy_distance, image_metrics

mask_sets = st.integers(1, 4).flatmap(lambda k: arrays(np.uint8, (k, 3, 3), elements=st.integers(0, 1)))
FEW = settings(max_examples=30, deadline=None)


def _phiseg_ged(s: np.ndarray, y: np.ndarray, unbiased: bool) -> float:
    """PhiSeg's generalised_energy_distance, written as its explicit double loops (a slow oracle)."""

    def d(a: np.ndarray, b: np.ndarray) -> float:
        union = np.logical_or(a, b).sum()
        return 0.0 if union == 0 else 1.0 - np.logical_and(a, b).sum() / union

    def within(x: np.ndarray) -> float:
        pairs = [(i, j) for i in range(len(x)) for j in range(len(x)) if not (unbiased and i == j)]
        return sum(d(x[i], x[j]) for i, j in pairs) / len(pairs) if pairs else 0.0

    cross = sum(d(a, b) for a in s for b in y) / (len(s) * len(y))
    return 2 * cross - within(s) - within(y)


@FEW
@given(mask_sets, mask_sets, st.booleans())
def test_ged_matches_double_loop_and_is_symmetric(a, b, unbiased):
    got = generalized_energy_distance(a, b, unbiased=unbiased)
    assert abs(got - _phiseg_ged(a, b, unbiased)) < 1e-12
    assert abs(got - generalized_energy_distance(b, a, unbiased=unbiased)) < 1e-12


@FEW
@given(mask_sets)
def test_identical_sets(a):
    m = image_metrics(a, a)
    assert abs(m.ged) < 1e-12 and m.d_max == 1.0 and m.s_c == 1.0 and m.d_a == 1.0 and m.hm_iou == 1.0


@FEW
@given(mask_sets, mask_sets)
def test_ranges(a, b):
    m = image_metrics(a, b)
    for name in ("d_max", "s_c", "d_a", "ci", "ci_hm", "hm_iou"):
        assert 0.0 <= m[name] <= 1.0 + 1e-12, (name, m[name])
    assert m.ci <= m.ci_hm + 1e-12  # CIMD's CI never exceeds the true harmonic mean
    assert -1e-12 <= m.ged <= 2.0 + 1e-12
    for name in ("ddi_exp", "ddi_gen"):
        assert np.isnan(m[name]) or -1e-12 <= m[name] <= 6.0 + 1e-12
