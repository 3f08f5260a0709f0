"""D_DDI (SSB paper eqs. 6–7) on small Dice matrices computed by hand, and against scipy's Jensen-Shannon."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from ssb_core.metrics import ddi_from_dice_matrix, diversity_divergence_index
from ssb_core.metrics.ddi import js_divergence_matrix, normalise_distributions
from tests.metrics.helpers import NAN, assert_close, masks

# JS((1/2, 1/2), (1, 0)) in base 2: m = (3/4, 1/4); KL(p||m) = 1/2 log2(2/3) + 1/2 log2 2 = 1 - 1/2 log2 3,
# KL(q||m) = log2(4/3) = 2 - log2 3; JS = (3 - 3/2 log2 3) / 2 = 3/2 - 3/4 log2 3.
_JS_HALF_VS_POINT = 1.5 - 0.75 * math.log2(3)

# (case, Dice matrix (M rows = readers, N columns = samples), D_DDI^exp, D_DDI^gen).
# D = 3 / C(K, 2) * sum over ordered pairs i != j of JS.
CASES = [
    # rows (1, 0) and (0, 1): disjoint supports, JS = 1; two ordered pairs: 3/1 * 2 = 6 (the maximum); same for columns.
    ("disjoint_rows", [[1, 0], [0, 1]], 6.0, 6.0),
    # rows (1/2, 1/2) and (1, 0); the matrix is symmetric, so the columns give the same.
    ("half_vs_point", [[1, 1], [1, 0]], 6 * _JS_HALF_VS_POINT, 6 * _JS_HALF_VS_POINT),
    # an all-zero row (and column) becomes uniform: rows (1/2, 1/2) vs (1, 0); columns (0, 1) vs uniform.
    ("all_zero_row_is_uniform", [[0, 0], [1, 0]], 6 * _JS_HALF_VS_POINT, 6 * _JS_HALF_VS_POINT),
    # M = 3, N = 2. Rows (1,0), (1,0), (0,1): JS 0, 1, 1 → 3/C(3,2) * 2 * 2 = 4.
    # Columns (1/2, 1/2, 0) vs (0, 0, 1): JS = 1 → 3/C(2,2) * 2 = 6.
    ("three_readers", [[1, 0], [1, 0], [0, 1]], 4.0, 6.0),
    # Identical rows → 0; a single column → D_DDI^gen undefined.
    ("identical_rows", [[0.7], [0.2], [0.4]], 0.0, NAN),
    # One reader → D_DDI^exp undefined; columns (1) vs (1): 0.
    ("one_reader", [[0.3, 0.9]], NAN, 0.0),
]


@pytest.mark.parametrize("case, dice, want_exp, want_gen", CASES, ids=[c[0] for c in CASES])
def test_hand_computed_dice_matrices(case, dice, want_exp, want_gen):
    got = ddi_from_dice_matrix(np.array(dice, dtype=float))
    assert_close(got.exp, want_exp, "exp")
    assert_close(got.gen, want_gen, "gen")


def test_matches_scipy_jensen_shannon_squared():
    rng = np.random.default_rng(0)
    dice = rng.uniform(size=(4, 5))
    dice[2] = 0.0  # an all-zero row: uniform
    js = lambda p, q: jensenshannon(p, q, base=2) ** 2  # noqa: E731  (scipy returns the square root)
    rows = normalise_distributions(dice)
    cols = normalise_distributions(dice.T)
    np.testing.assert_allclose(rows[2], np.full(5, 0.2))
    want_exp = 3 / math.comb(4, 2) * sum(js(rows[i], rows[j]) for i in range(4) for j in range(4) if i != j)
    want_gen = 3 / math.comb(5, 2) * sum(js(cols[i], cols[j]) for i in range(5) for j in range(5) if i != j)
    got = ddi_from_dice_matrix(dice)
    assert got.exp == pytest.approx(want_exp, abs=1e-12) and got.gen == pytest.approx(want_gen, abs=1e-12)
    assert np.allclose(np.diag(js_divergence_matrix(rows)), 0.0)


def test_from_masks_uses_readers_as_rows():
    # Y = {1100, 0011}, S = {1100}: Dice (M=2, N=1) = [[1], [0]] → rows (1) and (uniform over 1) = (1): exp 0.
    got = diversity_divergence_index(masks("1100"), masks("1100", "0011"))
    assert got.exp == 0.0 and math.isnan(got.gen)
    exp, gen = diversity_divergence_index(masks("1100", "0011"), masks("1100", "0011"))  # tuple unpacking works
    assert exp == gen == 6.0


@pytest.mark.parametrize("dice, match", [(np.ones(3), r"\(M, N\) matrix"), (np.full((2, 2), 1.5), r"\[0, 1\]"),
                                         (np.full((2, 2), np.nan), "NaN"), (np.zeros((0, 2)), r"got shape \(0, 2\)")])
def test_bad_dice_matrix(dice, match):
    with pytest.raises(ValueError, match=match):
        ddi_from_dice_matrix(dice)
