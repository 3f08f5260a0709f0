"""The Diversity Divergence Index D_DDI of the SSB paper (Baru et al., eqs. 6–7).

Dice matrix ``D`` of shape (M, N): ``D[i, j] = Dice(Y_i, S_j)``. The expert distribution ``exp-dist_i`` is row
i (length N), the generated distribution ``gen-dist_j`` is column j (length M); each is normalised to sum 1
(an all-zero vector becomes the uniform distribution). JS is the Jensen-Shannon divergence in base 2 (in [0, 1];
note that ``scipy.spatial.distance.jensenshannon`` returns its square root).

    D_DDI^exp = 3 / C(M, 2) * sum_{i != j} JS(exp-dist_i, exp-dist_j)      (eq. 6)
    D_DDI^gen = 3 / C(N, 2) * sum_{i != j} JS(gen-dist_i, gen-dist_j)      (eq. 7)

The constant 3 / C(K, 2) and the sum over ordered pairs are the paper's formula verbatim: with JS <= 1 and
K (K - 1) ordered pairs, the range is [0, 6]. Undefined (NaN) for fewer than two rows / columns.
"""

from __future__ import annotations

import math

import numpy as np

from ssb_core.metrics.masks import pairwise_dice

__all__ = ["ddi_from_dice_matrix", "diversity_divergence_index"]


def _normalise_rows(p: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1; an all-zero row becomes uniform."""
    sums = p.sum(axis=1, keepdims=True)
    return np.where(sums > 0, p / np.maximum(sums, 1e-300), 1.0 / p.shape[1])


def _pairwise_js_base2(p: np.ndarray) -> np.ndarray:
    """(K, K) Jensen-Shannon divergences (base 2) between the rows of ``p`` (each a distribution)."""
    a, b = p[:, None, :], p[None, :, :]
    m = (a + b) / 2.0

    def kl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        safe = np.where(x > 0, x / np.maximum(y, 1e-300), 1.0)
        return np.where(x > 0, x * np.log2(safe), 0.0).sum(-1)

    return np.clip(0.5 * kl(a, m) + 0.5 * kl(b, m), 0.0, 1.0)


def ddi_from_dice_matrix(dice: np.ndarray) -> tuple[float, float]:
    """``(D_DDI^exp, D_DDI^gen)`` from an (M, N) Dice matrix (rows = experts, columns = generated masks)."""
    dice = np.asarray(dice, dtype=np.float64)

    def index(rows: np.ndarray) -> float:
        k = rows.shape[0]
        if k < 2:
            return float("nan")
        js = _pairwise_js_base2(_normalise_rows(rows))
        return float(3.0 / math.comb(k, 2) * (js.sum() - np.trace(js)))

    return index(dice), index(dice.T)


def diversity_divergence_index(samples: np.ndarray, readers: np.ndarray) -> tuple[float, float]:
    """``(D_DDI^exp, D_DDI^gen)`` for bool mask sets ``samples`` (N, *sp) and ``readers`` (M, *sp)."""
    return ddi_from_dice_matrix(pairwise_dice(readers, samples))
