"""The metrics of CIMD: D_max, S_c, D_A and the CI score (and the true harmonic mean beside it).

Reference: Rahman et al., "Ambiguous Medical Image Segmentation using Diffusion Models" (CIMD), CVPR 2023,
arXiv 2304.04745, Section 4 ("Collective Insight score"), as used again by the SSB paper (Table 1).

Inputs: samples ``S_1..S_N`` (N, H, W[, D]) and readers ``Y_1..Y_M`` (M, H, W[, D]); binary, or probabilities
with ``threshold``. Empty-mask conventions: ``Dice(empty, empty) = 1``; ``S_c = 1`` when the readers' union is
empty (there is nothing to find); a set of one mask has the pairwise variances ``V = [0]`` (no diversity).

- ``D_max = (1/M) sum_i max_j Dice(Y_i, S_j)``: each reader's best-matching sample. [0, 1], higher better.
- ``S_c = TP / (TP + FN)`` of ``union_j S_j`` against ``union_i Y_i`` (combined sensitivity). [0, 1].
- ``D_A = 1 - (|max V^Y - max V^S| + |min V^Y - min V^S|) / 2`` (diversity agreement) with
  ``V_ij = Var_pixels(M_i - M_j)`` over the pairs i < j, within the readers (``V^Y``) and within the samples
  (``V^S``), population variance. Each V lies in [0, 1], so D_A lies in [0, 1]; higher better. The variance runs
  over every pixel of the crop, so on a small lesion in a large field of view all V are small and D_A stays
  close to 1 whatever the samples do (the weakness the SSB paper points out).
- ``CI = 3 S_c D_max D_A / (S_c + D_max + D_A)``: CIMD's "combined" score, exactly as CIMD's paper and public
  code compute it. Despite being called a harmonic mean it is not one (it equals ``(abc)/(mean of a, b, c)``);
  it lies in [0, 1] for inputs in [0, 1] (by AM-GM it is at most ``(abc)^(2/3)``).
- ``CI_HM = 3 / (1/S_c + 1/D_max + 1/D_A)``: the true harmonic mean, reported beside CI. [0, 1].
"""

from __future__ import annotations

import numpy as np

from ssb_core.metrics.masks import as_mask_set, check_same_spatial_shape
from ssb_core.metrics.overlap import PairwiseOverlaps, pairwise_dice, pairwise_overlaps

__all__ = [
    "ci_score",
    "combined_sensitivity",
    "d_a_from_overlaps",
    "d_max_from_dice",
    "diversity_agreement",
    "harmonic_mean3",
    "max_dice_matching",
    "pairwise_difference_variances",
]


def _pair(samples: object, readers: object, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    s = as_mask_set(samples, "samples", threshold, spatial_ndims=None)
    y = as_mask_set(readers, "readers", threshold, spatial_ndims=None)
    check_same_spatial_shape(s, y)
    return s, y


def d_max_from_dice(dice_ys: np.ndarray) -> float:
    """D_max from a precomputed readers × samples Dice matrix (M, N): mean over rows of the row maximum."""
    return float(dice_ys.max(axis=1).mean())


def max_dice_matching(samples: object, readers: object, threshold: float | None = None) -> float:
    """D_max = (1/M) sum_i max_j Dice(Y_i, S_j) (CIMD). Range [0, 1]; higher is better."""
    s, y = _pair(samples, readers, threshold)
    return d_max_from_dice(pairwise_dice(y, s))


def combined_sensitivity(samples: object, readers: object, threshold: float | None = None) -> float:
    """S_c = TP / (TP + FN) of the samples' union against the readers' union (CIMD).

    1 when the readers' union is empty. Range [0, 1]; higher is better.
    """
    s, y = _pair(samples, readers, threshold)
    y_union = y.reshape(y.shape[0], -1).any(axis=0)
    positives = int(y_union.sum())
    if positives == 0:
        return 1.0
    s_union = s.reshape(s.shape[0], -1).any(axis=0)
    return int((s_union & y_union).sum()) / positives


def pairwise_difference_variances(within: PairwiseOverlaps) -> np.ndarray:
    """``V_ij = Var_pixels(M_i - M_j)`` for i < j from a set's overlaps with itself; ``[0.0]`` for a single mask."""
    k = within.inter.shape[0]
    if k < 2:
        return np.zeros(1)
    rows, cols = np.triu_indices(k, k=1)
    return within.difference_variance()[rows, cols]


def d_a_from_overlaps(samples_within: PairwiseOverlaps, readers_within: PairwiseOverlaps) -> float:
    """D_A from the samples' and the readers' overlaps with themselves (see the module docstring)."""
    vs = pairwise_difference_variances(samples_within)
    vy = pairwise_difference_variances(readers_within)
    return float(1.0 - (abs(vy.max() - vs.max()) + abs(vy.min() - vs.min())) / 2.0)


def diversity_agreement(samples: object, readers: object, threshold: float | None = None) -> float:
    """D_A = 1 - (|max V^Y - max V^S| + |min V^Y - min V^S|) / 2 (CIMD). Range [0, 1]; higher is better."""
    s, y = _pair(samples, readers, threshold)
    return d_a_from_overlaps(pairwise_overlaps(s, s), pairwise_overlaps(y, y))


def _check_unit(**values: float) -> None:
    for name, v in values.items():
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}: expected a value in [0, 1], got {v!r}")


def ci_score(s_c: float, d_max: float, d_a: float) -> float:
    """CI = 3 S_c D_max D_A / (S_c + D_max + D_A), exactly as CIMD computes it (not the harmonic mean).

    0 when all three are 0. Range [0, 1]; higher is better. See :func:`harmonic_mean3` for the true harmonic mean.
    """
    _check_unit(s_c=s_c, d_max=d_max, d_a=d_a)
    denom = s_c + d_max + d_a
    return 0.0 if denom == 0 else 3.0 * s_c * d_max * d_a / denom


def harmonic_mean3(s_c: float, d_max: float, d_a: float) -> float:
    """The true harmonic mean 3 / (1/S_c + 1/D_max + 1/D_A); 0 when any of them is 0. Range [0, 1]."""
    _check_unit(s_c=s_c, d_max=d_max, d_a=d_a)
    if min(s_c, d_max, d_a) == 0.0:
        return 0.0
    return 3.0 / (1.0 / s_c + 1.0 / d_max + 1.0 / d_a)
