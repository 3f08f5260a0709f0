"""GED: the two estimators, the returned quantity (no square root), and its terms."""

from __future__ import annotations

import pytest
import torch

from ssb_core.metrics import ged_terms, generalized_energy_distance
from tests.metrics.helpers import masks


@pytest.mark.parametrize(
    "samples, readers, biased, unbiased",
    [
        # see tests/metrics/test_image_metrics.py for the hand computations
        (masks("1000", "1100", "0110"), masks("1100", "1110"), 5 / 27, -2 / 9),
        (masks("1100", "0110"), masks("1100", "0110"), 0.0, -2 / 3),
        (masks("1100"), masks("0011"), 2.0, 2.0),
        # N = 1 and M = 1, not disjoint: d(S, Y) = 1 - 1/3; no within-set pair in either form.
        (masks("1100"), masks("0110"), 2 * (2 / 3), 2 * (2 / 3)),
    ],
)
def test_biased_and_unbiased(samples, readers, biased, unbiased):
    assert generalized_energy_distance(samples, readers) == pytest.approx(biased, abs=1e-12)
    assert generalized_energy_distance(samples, readers, unbiased=True) == pytest.approx(unbiased, abs=1e-12)


def test_terms_and_no_square_root():
    t = ged_terms(masks("1000", "1100", "0110"), masks("1100", "1110"))
    assert (t.cross, t.samples_diversity, t.readers_diversity) == pytest.approx((5 / 12, 13 / 27, 1 / 6))
    assert t.ged == pytest.approx(5 / 27)  # the squared quantity itself, as PhiSeg / CIMD / CCDM report it
    assert not t.unbiased and ged_terms(masks("1100"), masks("1100"), unbiased=True).unbiased


def test_accepts_torch_probabilities_and_flat_pixels():
    s = torch.tensor([[0.9, 0.8, 0.1, 0.0]])
    y = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0]])
    # 2-D (K, P) pixel vectors are accepted by the per-metric functions.
    # S = {1100}: cross d = (0 + 2/3)/2, within S 0, within Y 2·(2/3)/4 → GED = 2/3 − 1/3.
    assert generalized_energy_distance(s, y, threshold=0.5) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="expected binary"):
        generalized_energy_distance(s, y)
