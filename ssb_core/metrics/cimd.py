"""The metrics of CIMD (Rahman et al., CVPR 2023, arXiv 2304.04745): D_max, S_c, D_A and the CI score.

Inputs are bool mask sets: samples ``S`` (N, *spatial) and readers ``Y`` (M, *spatial).
Empty-mask conventions: ``Dice(empty, empty) = 1``; S_c = 1 when the readers' union is empty.
"""

from __future__ import annotations

import itertools

import numpy as np

from ssb_core.metrics.masks import pairwise_dice

__all__ = ["max_dice_matching", "combined_sensitivity", "diversity_agreement", "ci_score", "harmonic_mean3"]


def max_dice_matching(samples: np.ndarray, readers: np.ndarray) -> float:
    """D_max = (1/M) sum_i max_j Dice(Y_i, S_j): each reader's best-matching sample. Range [0, 1], higher is better."""
    return float(pairwise_dice(readers, samples).max(axis=1).mean())


def combined_sensitivity(samples: np.ndarray, readers: np.ndarray) -> float:
    """S_c = TP / (TP + FN) of the union of the samples against the union of the readers.

    1 when the readers' union is empty (nothing to find). Range [0, 1], higher is better.
    """
    s_union = samples.any(axis=0)
    y_union = readers.any(axis=0)
    positives = int(y_union.sum())
    if positives == 0:
        return 1.0
    return int((s_union & y_union).sum()) / positives


def _pairwise_difference_variances(masks: np.ndarray) -> list[float]:
    """Variance over pixels of ``M_i - M_j`` for each pair i < j ([0.0] for a single mask: no diversity)."""
    if masks.shape[0] < 2:
        return [0.0]
    flat = masks.reshape(masks.shape[0], -1).astype(np.float64)
    return [float((flat[i] - flat[j]).var()) for i, j in itertools.combinations(range(flat.shape[0]), 2)]


def diversity_agreement(samples: np.ndarray, readers: np.ndarray) -> float:
    """D_A = 1 - (|max V^Y - max V^S| + |min V^Y - min V^S|) / 2.

    ``V_ij`` is the variance over pixels of ``M_i - M_j`` for pairs i < j, within the readers (V^Y) and within
    the samples (V^S); a set of one mask has V = [0]. The population variance (ddof = 0) is used. Each V lies in
    [0, 1], so D_A lies in [0, 1]; higher is better.
    """
    vy, vs = _pairwise_difference_variances(readers), _pairwise_difference_variances(samples)
    return 1.0 - (abs(max(vy) - max(vs)) + abs(min(vy) - min(vs))) / 2.0


def ci_score(s_c: float, d_max: float, d_a: float) -> float:
    """CI = 3 S_c D_max D_A / (S_c + D_max + D_A), exactly as CIMD and the public implementations compute it.

    This is NOT the harmonic mean of the three (see :func:`harmonic_mean3`, reported beside it). 0 when all three
    are 0. Range [0, 1] for inputs in [0, 1]; higher is better.
    """
    denom = s_c + d_max + d_a
    return 0.0 if denom == 0 else 3.0 * s_c * d_max * d_a / denom


def harmonic_mean3(s_c: float, d_max: float, d_a: float) -> float:
    """The true harmonic mean 3 / (1/S_c + 1/D_max + 1/D_A); 0 when any of them is 0."""
    if min(s_c, d_max, d_a) <= 0:
        return 0.0
    return 3.0 / (1.0 / s_c + 1.0 / d_max + 1.0 / d_a)
