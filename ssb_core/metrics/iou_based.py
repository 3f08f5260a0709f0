"""IoU-based set metrics: the generalised energy distance (GED) and Hungarian-matched IoU (HM-IoU).

Both take two bool mask sets, samples ``S`` (N, *spatial) and readers ``Y`` (M, *spatial), as returned by
:func:`ssb_core.metrics.masks.as_mask_set`, and use ``d = 1 - IoU`` with ``IoU(empty, empty) = 1``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from ssb_core.metrics.masks import pairwise_iou

__all__ = ["generalized_energy_distance", "hungarian_matched_iou"]


def _mean_distance(d: np.ndarray, unbiased: bool) -> float:
    """Mean of a square distance matrix, over all entries or over i != j (0 when there is no such pair)."""
    k = d.shape[0]
    if not unbiased:
        return float(d.mean())
    if k < 2:
        return 0.0
    return float((d.sum() - np.trace(d)) / (k * (k - 1)))


def generalized_energy_distance(samples: np.ndarray, readers: np.ndarray, unbiased: bool = False) -> float:
    """GED between the sample set and the reader set (Kohl et al. 2018; Baumgartner et al. 2019, PhiSeg).

    ``GED = 2 E[d(S, Y)] - E[d(S, S')] - E[d(Y, Y')]``, ``d = 1 - IoU``.

    What is returned is this value itself, which is what PhiSeg, CIMD, CCDM and the SSB paper tabulate as "GED"
    (strictly it is the *squared* energy distance, D^2_GED; take its square root for the distance).

    - ``unbiased=False`` (default, PhiSeg/CCDM): the within-set means run over the full N×N and M×M matrices,
      diagonal (d = 0) included.
    - ``unbiased=True``: the within-set means run over i != j (a set of one mask contributes 0).

    Range: [0, 2] in general (0 for identical sets in the biased form); lower is better.
    """
    d_sy = 1.0 - pairwise_iou(samples, readers)
    d_ss = 1.0 - pairwise_iou(samples, samples)
    d_yy = 1.0 - pairwise_iou(readers, readers)
    return 2.0 * float(d_sy.mean()) - _mean_distance(d_ss, unbiased) - _mean_distance(d_yy, unbiased)


def hungarian_matched_iou(samples: np.ndarray, readers: np.ndarray) -> float:
    """HM-IoU (Zbinden et al. 2023, CCDM): mean IoU of the best one-to-one matching between the two sets.

    Both sets are repeated to ``L = lcm(N, M)`` masks, the matching minimises the total ``1 - IoU``
    (``scipy.optimize.linear_sum_assignment``), and the matched IoUs are averaged. Range [0, 1]; higher is better.
    """
    n, m = samples.shape[0], readers.shape[0]
    iou = pairwise_iou(samples, readers)
    lcm = n * m // math.gcd(n, m)
    tiled = np.tile(iou, (lcm // n, lcm // m))
    rows, cols = linear_sum_assignment(1.0 - tiled)
    return float(tiled[rows, cols].mean())
