"""The generalised energy distance (GED) between a set of generated masks and a set of reader masks.

References: Kohl et al., "A Probabilistic U-Net for Segmentation of Ambiguous Images", NeurIPS 2018 (who
introduced it for segmentation); Baumgartner et al., "PHiSeg", MICCAI 2019 (``generalised_energy_distance``
in its public code); Zbinden et al., "Stochastic Segmentation with Conditional Categorical Diffusion Models"
(CCDM), ICCV 2023; Rahman et al., CIMD, CVPR 2023 (arXiv 2304.04745); the SSB paper, Table 1.

With samples ``S_1..S_N``, readers ``Y_1..Y_M`` and ``d(a, b) = 1 - IoU(a, b)`` (``IoU(empty, empty) = 1``, so
two empty masks are at distance 0 and an empty against a non-empty mask at distance 1)::

    GED = 2 E[d(S, Y)] - E[d(S, S')] - E[d(Y, Y')]

**What is returned is this quantity itself**, not its square root. Strictly it is the *squared* energy distance
D²_GED, but it is what PhiSeg, CIMD, CCDM and the SSB paper compute and tabulate under the name "GED" (their
public code returns ``2 cross - diversity_S - diversity_Y`` without a square root). Take ``sqrt`` for the
distance itself.

Two estimators of the within-set expectations:

- biased (default; PhiSeg, CCDM): the means run over the full N×N and M×M matrices, diagonal (d = 0)
  included (a V-statistic). GED = 0 for identical sets. Range [0, 2]; lower is better.
- unbiased (``unbiased=True``): the means run over the pairs i != j (a U-statistic); a set of one mask
  contributes 0 (it has no pair). It can be negative (down to -2); identical sets of K >= 2 distinct masks
  give ``-2 E_{i!=j}[d]`` rather than 0.

The cross term ``E[d(S, Y)]`` is always the mean over all N·M pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ssb_core.metrics.masks import as_mask_set, check_same_spatial_shape
from ssb_core.metrics.overlap import pairwise_iou

__all__ = ["GEDTerms", "ged_from_iou", "ged_terms", "generalized_energy_distance"]


class GEDTerms(NamedTuple):
    """The three expectations of the GED (all with ``d = 1 - IoU``, each in [0, 1]).

    ``cross = E[d(S, Y)]``; ``samples_diversity = E[d(S, S')]`` (PhiSeg's "sample diversity");
    ``readers_diversity = E[d(Y, Y')]``; ``unbiased`` says which within-set estimator was used.
    """

    cross: float
    samples_diversity: float
    readers_diversity: float
    unbiased: bool

    @property
    def ged(self) -> float:
        """``2 cross - samples_diversity - readers_diversity`` (the field's "GED"; see the module docstring)."""
        return 2.0 * self.cross - self.samples_diversity - self.readers_diversity


def _within_mean(d: np.ndarray, unbiased: bool) -> float:
    """Mean of a square within-set distance matrix: all K² entries, or the K(K-1) entries i != j (0 if K = 1)."""
    k = d.shape[0]
    if not unbiased:
        return float(d.mean())
    if k < 2:
        return 0.0
    return float((d.sum() - np.trace(d)) / (k * (k - 1)))


def ged_from_iou(iou_sy: np.ndarray, iou_ss: np.ndarray, iou_yy: np.ndarray, unbiased: bool = False) -> GEDTerms:
    """GED terms from precomputed IoU matrices: samples × readers (N, M), samples × samples (N, N), readers × readers (M, M)."""
    n, m = iou_sy.shape
    if iou_ss.shape != (n, n) or iou_yy.shape != (m, m):
        raise ValueError(f"expected IoU matrices (N, M), (N, N), (M, M) with N={n}, M={m}, got {iou_ss.shape} and {iou_yy.shape}")
    return GEDTerms(
        cross=float((1.0 - iou_sy).mean()),
        samples_diversity=_within_mean(1.0 - iou_ss, unbiased),
        readers_diversity=_within_mean(1.0 - iou_yy, unbiased),
        unbiased=bool(unbiased),
    )


def ged_terms(samples: object, readers: object, unbiased: bool = False, threshold: float | None = None) -> GEDTerms:
    """The three GED expectations for samples (N, H, W[, D]) and readers (M, H, W[, D]); see :class:`GEDTerms`."""
    s = as_mask_set(samples, "samples", threshold, spatial_ndims=None)
    y = as_mask_set(readers, "readers", threshold, spatial_ndims=None)
    check_same_spatial_shape(s, y)
    return ged_from_iou(pairwise_iou(s, y), pairwise_iou(s, s), pairwise_iou(y, y), unbiased)


def generalized_energy_distance(samples: object, readers: object, unbiased: bool = False, threshold: float | None = None) -> float:
    """GED = 2 E[d(S, Y)] - E[d(S, S')] - E[d(Y, Y')], d = 1 - IoU: the value the field tabulates as "GED".

    This returns the squared energy distance D²_GED itself (no square root), as PhiSeg, CIMD, CCDM and the SSB
    paper report it; see the module docstring for the two estimators.

    Args:
        samples: generated masks (N, H, W[, D]), numpy or torch; binary, or probabilities with ``threshold``.
        readers: reader masks (M, H, W[, D]) with the same spatial shape.
        unbiased: within-set means over i != j instead of the full matrices (default False: PhiSeg/CCDM).
        threshold: binarise both sets with ``> threshold``.

    Returns:
        Biased: in [0, 2], 0 for identical sets. Unbiased: in [-2, 2]. Lower is better.
    """
    return ged_terms(samples, readers, unbiased, threshold).ged
