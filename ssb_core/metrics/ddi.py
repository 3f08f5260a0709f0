"""The Diversity Divergence Index D_DDI of the SSB paper (eqs. 6–7, Section 3.3).

Dice matrix ``D`` of shape (M, N): ``D[i, j] = Dice(Y_i, S_j)`` between reader i and generated mask j
(``Dice(empty, empty) = 1``). The *expert distribution* ``exp-dist_i`` is row i (N values), the *generated
distribution* ``gen-dist_j`` is column j (M values); each is normalised to sum 1. **An all-zero row or column
(a reader that no sample overlaps, or a sample that overlaps no reader) becomes the uniform distribution**:
the paper leaves it undefined, and "no preference among the candidates" is the only normalisation that does
not invent one. ``JS`` is the Jensen-Shannon divergence in base 2, which lies in [0, 1] (note that
``scipy.spatial.distance.jensenshannon`` returns its *square root*, the JS distance)::

    D_DDI^exp = 3 / C(M, 2) * sum_{i} sum_{j} 1[i != j] JS(exp-dist_i, exp-dist_j)      (eq. 6)
    D_DDI^gen = 3 / C(N, 2) * sum_{i} sum_{j} 1[i != j] JS(gen-dist_i, gen-dist_j)      (eq. 7)

The constant ``3 / C(K, 2)`` and the sum over *ordered* pairs i != j are the paper's formula verbatim. As
there are ``K(K-1) = 2 C(K, 2)`` ordered pairs, this is 6 × the mean JS over pairs: **the range is [0, 6]**,
not [0, 1]. The paper reports values below 1 (e.g. 0.427 / 0.356 for SSB++ on LIDC); we keep its formula and
say so rather than rescale. Higher is what the paper calls better. Undefined (NaN) for fewer than two rows
(M < 2, D_DDI^exp) or columns (N < 2, D_DDI^gen), as for COCA's single reader in the paper's Table 1.

With N = 1 the expert distributions are single points, all equal, so D_DDI^exp = 0 whatever the sample.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import rel_entr

from ssb_core.metrics.masks import as_mask_set, check_same_spatial_shape
from ssb_core.metrics.overlap import pairwise_dice

__all__ = ["DDI", "ddi_from_dice_matrix", "diversity_divergence_index", "js_divergence_matrix", "normalise_distributions"]

_LN2 = math.log(2.0)


class DDI(NamedTuple):
    """``(exp, gen)``: D_DDI^exp (over the M reader rows) and D_DDI^gen (over the N sample columns)."""

    exp: float
    gen: float


def normalise_distributions(rows: np.ndarray) -> np.ndarray:
    """Rows of a non-negative (K, L) matrix scaled to sum 1; an all-zero row becomes uniform (1/L each)."""
    rows = np.asarray(rows, dtype=np.float64)
    sums = rows.sum(axis=1, keepdims=True)
    return np.where(sums > 0, rows / np.where(sums > 0, sums, 1.0), 1.0 / rows.shape[1])


def js_divergence_matrix(p: np.ndarray) -> np.ndarray:
    """(K, K) Jensen-Shannon divergences in base 2 between the rows of ``p`` (each a probability vector).

    ``JS(a, b) = (KL(a || m) + KL(b || m)) / 2`` with ``m = (a + b) / 2`` and ``0 log 0 = 0``. Range [0, 1].
    """
    a, b = p[:, None, :], p[None, :, :]
    m = 0.5 * (a + b)
    js = 0.5 * (rel_entr(a, m).sum(-1) + rel_entr(b, m).sum(-1)) / _LN2
    return np.clip(js, 0.0, 1.0)


def _index(rows: np.ndarray) -> float:
    """``3 / C(K, 2) * sum_{i != j} JS(row_i, row_j)`` for K normalised rows; NaN for K < 2."""
    k = rows.shape[0]
    if k < 2:
        return float("nan")
    js = js_divergence_matrix(normalise_distributions(rows))
    return float(3.0 / math.comb(k, 2) * (js.sum() - np.trace(js)))


def ddi_from_dice_matrix(dice: np.ndarray) -> DDI:
    """``(D_DDI^exp, D_DDI^gen)`` from an (M, N) Dice matrix: rows = readers (experts), columns = generated masks.

    Raises:
        ValueError: not a 2-D matrix, or values outside [0, 1] / NaN.
    """
    dice = np.asarray(dice, dtype=np.float64)
    if dice.ndim != 2 or min(dice.shape) < 1:
        raise ValueError(f"dice: expected an (M, N) matrix with M, N >= 1, got shape {dice.shape}")
    if not (np.isfinite(dice).all() and (dice >= 0).all() and (dice <= 1).all()):
        raise ValueError("dice: expected finite values in [0, 1], got values outside it (or NaN/Inf)")
    return DDI(exp=_index(dice), gen=_index(dice.T))


def diversity_divergence_index(samples: object, readers: object, threshold: float | None = None) -> DDI:
    """``(D_DDI^exp, D_DDI^gen)`` for samples (N, *spatial) and readers (M, *spatial). Range [0, 6] each, NaN below 2 rows/columns."""
    s = as_mask_set(samples, "samples", threshold, spatial_ndims=None)
    y = as_mask_set(readers, "readers", threshold, spatial_ndims=None)
    check_same_spatial_shape(s, y)
    return ddi_from_dice_matrix(pairwise_dice(y, s))
