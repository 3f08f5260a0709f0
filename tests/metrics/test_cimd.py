"""CIMD's D_max, S_c, D_A, CI and the true harmonic mean, by hand."""

from __future__ import annotations

import pytest

from ssb_core.metrics import ci_score, combined_sensitivity, diversity_agreement, harmonic_mean3, max_dice_matching
from tests.metrics.helpers import masks


def test_d_max_is_per_reader_best_sample():
    # Y1 = 1100 best matched by S2 (Dice 1); Y2 = 0011 by S1 = 0001 (Dice 2/3).
    assert max_dice_matching(masks("0001", "1100"), masks("1100", "0011")) == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize(
    "samples, readers, want",
    [
        (masks("1000", "0100"), masks("1100", "0011"), 0.5),  # union 1100 of the samples covers 2 of 4 reader pixels
        (masks("1111"), masks("0000"), 1.0),  # nothing to find
        (masks("0000"), masks("0100"), 0.0),
    ],
)
def test_combined_sensitivity(samples, readers, want):
    assert combined_sensitivity(samples, readers) == pytest.approx(want)


def test_diversity_agreement():
    # P = 4. Readers 1100 vs 0000: Var(1,1,0,0) = 1/2 - 1/4 = 1/4. Samples 1000 vs 0000: 1/4 - 1/16 = 3/16.
    # One pair each: D_A = 1 - (1/16 + 1/16)/2 = 15/16.
    assert diversity_agreement(masks("1000", "0000"), masks("1100", "0000")) == pytest.approx(15 / 16)
    # A single sample has V^S = [0].
    assert diversity_agreement(masks("1000"), masks("1100", "0000")) == pytest.approx(1 - (1 / 4 + 1 / 4) / 2)


def test_ci_is_cimd_formula_and_hm_is_harmonic():
    assert ci_score(1.0, 0.5, 0.5) == pytest.approx(3 * 0.25 / 2)  # 0.375, while the harmonic mean is 0.6
    assert harmonic_mean3(1.0, 0.5, 0.5) == pytest.approx(3 / (1 + 2 + 2))
    assert ci_score(0.0, 0.0, 0.0) == 0.0 and harmonic_mean3(0.0, 1.0, 1.0) == 0.0
    assert ci_score(1.0, 1.0, 1.0) == harmonic_mean3(1.0, 1.0, 1.0) == 1.0
    with pytest.raises(ValueError, match=r"d_max: expected a value in \[0, 1\], got 1.5"):
        ci_score(1.0, 1.5, 1.0)
