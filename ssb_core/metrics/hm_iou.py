"""Hungarian-matched IoU (HM-IoU), the second view of set agreement used by CCDM.

Reference: Zbinden et al., "Stochastic Segmentation with Conditional Categorical Diffusion Models" (CCDM),
ICCV 2023, and its public code (``batched_hungarian_matching``).

Both sets are repeated to ``L = lcm(N, M)`` masks (the samples ``L/N`` times, the readers ``L/M`` times), so
each sample is matched as often as each reader in proportion; the one-to-one matching of the L copies that
minimises the total cost ``1 - IoU`` is found with :func:`scipy.optimize.linear_sum_assignment`, and the
matched IoUs are averaged::

    HM-IoU = (1/L) max_{permutation pi} sum_k IoU(S_{k mod N}, Y_{pi(k) mod M})

``IoU(empty, empty) = 1``. Range [0, 1]; higher is better; 1 when the two sets are equal as multisets up to
the repetition (e.g. identical sets).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from ssb_core.metrics.masks import as_mask_set, check_same_spatial_shape
from ssb_core.metrics.overlap import pairwise_iou

__all__ = ["hm_iou_from_iou", "hungarian_matched_iou"]


def hm_iou_from_iou(iou_sy: np.ndarray) -> float:
    """HM-IoU from a precomputed samples × readers IoU matrix (N, M)."""
    n, m = iou_sy.shape
    if n < 1 or m < 1:
        raise ValueError(f"expected an IoU matrix with N, M >= 1, got shape {iou_sy.shape}")
    lcm = n * m // math.gcd(n, m)
    tiled = np.tile(iou_sy, (lcm // n, lcm // m))
    rows, cols = linear_sum_assignment(1.0 - tiled)
    return float(tiled[rows, cols].mean())


def hungarian_matched_iou(samples: object, readers: object, threshold: float | None = None) -> float:
    """HM-IoU between samples (N, H, W[, D]) and readers (M, H, W[, D]); see the module docstring. Range [0, 1]."""
    s = as_mask_set(samples, "samples", threshold, spatial_ndims=None)
    y = as_mask_set(readers, "readers", threshold, spatial_ndims=None)
    check_same_spatial_shape(s, y)
    return hm_iou_from_iou(pairwise_iou(s, y))
