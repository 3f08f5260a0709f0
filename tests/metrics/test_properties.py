"""Properties that hold for any masks: GED symmetry and identity, ranges, agreement with MONAI's Dice/IoU."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from monai.metrics import compute_dice, compute_iou

from ssb_core.metrics import image_metrics, pairwise_dice, pairwise_iou

mask_sets = st.integers(1, 4).flatmap(lambda k: arrays(np.uint8, (k, 3, 3), elements=st.integers(0, 1)))


@settings(max_examples=60, deadline=None)
@given(mask_sets, mask_sets)
def test_ged_is_symmetric_and_everything_in_range(a, b):
    ab, ba = image_metrics(a, b), image_metrics(b, a)
    assert abs(ab.ged - ba.ged) < 1e-12
    for m in (ab, ba):
        for name in ("d_max", "s_c", "d_a", "ci", "ci_hm", "hm_iou"):
            assert 0.0 <= getattr(m, name) <= 1.0 + 1e-12, (name, getattr(m, name))
        assert -1e-12 <= m.ged <= 2.0 + 1e-12
        for name in ("ddi_exp", "ddi_gen"):
            v = getattr(m, name)
            assert np.isnan(v) or -1e-12 <= v <= 6.0 + 1e-12


@settings(max_examples=40, deadline=None)
@given(mask_sets)
def test_ged_is_zero_for_identical_sets(a):
    assert abs(image_metrics(a, a).ged) < 1e-12
    assert image_metrics(a, a).d_max == 1.0


@settings(max_examples=40, deadline=None)
@given(mask_sets, mask_sets)
def test_pairwise_overlaps_match_monai(a, b):
    if a.shape[1:] != b.shape[1:]:
        return
    ka, kb = a.shape[0], b.shape[0]
    ai = torch.from_numpy(a).float().unsqueeze(1).repeat_interleave(kb, 0)
    bj = torch.from_numpy(b).float().unsqueeze(1).repeat(ka, 1, 1, 1)
    want_dice = compute_dice(ai, bj, include_background=True, ignore_empty=False).reshape(ka, kb).numpy()
    want_iou = compute_iou(ai, bj, include_background=True, ignore_empty=False).reshape(ka, kb).numpy()
    np.testing.assert_allclose(pairwise_dice(a.astype(bool), b.astype(bool)), want_dice, atol=1e-6)
    np.testing.assert_allclose(pairwise_iou(a.astype(bool), b.astype(bool)), want_iou, atol=1e-6)
