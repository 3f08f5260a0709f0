"""Pairwise overlaps of two mask sets: intersection counts, Dice and IoU matrices.

Every metric of the package is a function of, per pair of masks ``(a_i, b_j)``, the intersection
``|a_i ∩ b_j|`` and the sizes ``|a_i|``, ``|b_j|``. :func:`pairwise_overlaps` computes all of them at once as a
matrix product of the flattened masks (exact integer counts: float32 products over chunks of at most 2^24
pixels, accumulated in int64), so an N×M comparison costs one BLAS call instead of N·M passes over the pixels.

Conventions (identical to MONAI's :func:`monai.metrics.compute_dice` and :func:`monai.metrics.compute_iou`
with ``include_background=True, ignore_empty=False``, which ``tests/metrics/test_overlap.py`` checks pair by
pair; PhiSeg and CCDM use the same):

- ``Dice(a, b) = 2|a ∩ b| / (|a| + |b|)``, and ``Dice(empty, empty) = 1``;
- ``IoU(a, b) = |a ∩ b| / |a ∪ b|``, and ``IoU(empty, empty) = 1``;
- an empty mask against a non-empty one scores 0 in both.

MONAI's functions are not called here because they take aligned pairs: an all-pairs matrix through them
materialises ``N·M`` copies of the image (``N·M·H·W[·D]`` floats), which the matrix product avoids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssb_core.metrics.masks import as_mask_set, check_same_spatial_shape

__all__ = ["PairwiseOverlaps", "pairwise_overlaps", "pairwise_dice", "pairwise_iou"]

_CHUNK = 1 << 22  # pixels per matrix product: float32 sums of 0/1 stay exact below 2^24


@dataclass(frozen=True)
class PairwiseOverlaps:
    """Intersection counts of two mask sets ``a`` (Ka, *spatial) and ``b`` (Kb, *spatial).

    Attributes:
        inter: (Ka, Kb) int64, ``|a_i ∩ b_j|``.
        size_a: (Ka,) int64, ``|a_i|``.
        size_b: (Kb,) int64, ``|b_j|``.
        num_pixels: pixels (voxels) per mask, P.
    """

    inter: np.ndarray
    size_a: np.ndarray
    size_b: np.ndarray
    num_pixels: int

    def dice(self) -> np.ndarray:
        """(Ka, Kb) float64 Dice matrix; 1 where both masks are empty. Range [0, 1]."""
        total = self.size_a[:, None] + self.size_b[None, :]
        return np.where(total > 0, 2.0 * self.inter / np.maximum(total, 1), 1.0)

    def iou(self) -> np.ndarray:
        """(Ka, Kb) float64 IoU (Jaccard) matrix; 1 where both masks are empty. Range [0, 1]."""
        union = self.size_a[:, None] + self.size_b[None, :] - self.inter
        return np.where(union > 0, self.inter / np.maximum(union, 1), 1.0)

    def difference_variance(self) -> np.ndarray:
        """(Ka, Kb) float64: the variance over pixels of ``a_i - b_j`` (population variance, ddof = 0).

        With ``x = a_i - b_j`` in {-1, 0, 1}: ``E[x^2] = (|a_i| + |b_j| - 2|a_i ∩ b_j|) / P`` and
        ``E[x] = (|a_i| - |b_j|) / P``, so ``Var = E[x^2] - E[x]^2``. Range [0, 1]. Used by CIMD's D_A.
        """
        p = float(self.num_pixels)
        sa, sb = self.size_a[:, None].astype(np.float64), self.size_b[None, :].astype(np.float64)
        second = (sa + sb - 2.0 * self.inter) / p
        first = (sa - sb) / p
        return np.maximum(second - first**2, 0.0)


def _flat(masks: np.ndarray) -> np.ndarray:
    return masks.reshape(masks.shape[0], -1)


def pairwise_overlaps(a: object, b: object, threshold: float | None = None) -> PairwiseOverlaps:
    """Intersection counts of every pair of masks of ``a`` (Ka, *spatial) and ``b`` (Kb, *spatial).

    Inputs are validated with :func:`~ssb_core.metrics.masks.as_mask_set` (any number of spatial dims, flattened
    pixel vectors ``(K, P)`` included); both must share their spatial shape.
    """
    a = as_mask_set(a, "a", threshold, spatial_ndims=None)
    b = as_mask_set(b, "b", threshold, spatial_ndims=None)
    check_same_spatial_shape(a, b)
    fa, fb = _flat(a), _flat(b)
    num_pixels = fa.shape[1]
    inter = np.zeros((fa.shape[0], fb.shape[0]), dtype=np.int64)
    for start in range(0, num_pixels, _CHUNK):
        ca = fa[:, start : start + _CHUNK].astype(np.float32)
        cb = ca if b is a else fb[:, start : start + _CHUNK].astype(np.float32)
        inter += np.rint(ca @ cb.T).astype(np.int64)
    return PairwiseOverlaps(
        inter=inter,
        size_a=fa.sum(axis=1, dtype=np.int64),
        size_b=fb.sum(axis=1, dtype=np.int64),
        num_pixels=int(num_pixels),
    )


def pairwise_dice(a: object, b: object, threshold: float | None = None) -> np.ndarray:
    """Dice of every pair: a ``(Ka, Kb)`` float64 matrix, ``Dice(empty, empty) = 1``. Range [0, 1]."""
    return pairwise_overlaps(a, b, threshold).dice()


def pairwise_iou(a: object, b: object, threshold: float | None = None) -> np.ndarray:
    """IoU of every pair: a ``(Ka, Kb)`` float64 matrix, ``IoU(empty, empty) = 1``. Range [0, 1]."""
    return pairwise_overlaps(a, b, threshold).iou()
