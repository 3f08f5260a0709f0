"""HM-IoU (CCDM): Hungarian matching after repeating both sets to lcm(N, M)."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.metrics import hungarian_matched_iou
from ssb_core.metrics.hm_iou import hm_iou_from_iou
from tests.metrics.helpers import masks


@pytest.mark.parametrize(
    "samples, readers, want",
    [
        (masks("1100", "0110"), masks("0110", "1100"), 1.0),  # order does not matter
        (masks("1000", "1100", "0110"), masks("1100", "1110"), 25 / 36),  # lcm 6, hand-computed
        (masks("1100"), masks("1100", "0000"), 0.5),  # the one sample is repeated twice
        (masks("0000"), masks("0000"), 1.0),  # IoU(empty, empty) = 1
        (masks("1100", "1100"), masks("0011"), 0.0),
    ],
)
def test_values(samples, readers, want):
    assert hungarian_matched_iou(samples, readers) == pytest.approx(want, abs=1e-12)


def test_matching_is_one_to_one_not_greedy():
    # Greedy (best reader per sample) would pair both samples with reader 0; the matching must use each once.
    iou = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert hm_iou_from_iou(iou) == pytest.approx((0.8 + 0.85) / 2)
    with pytest.raises(ValueError, match="N, M >= 1"):
        hm_iou_from_iou(np.zeros((0, 2)))
