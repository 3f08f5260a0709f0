"""Mask sets for the metrics: input checks and pairwise overlap matrices.

A *mask set* is an array of shape ``(K, H, W)`` or ``(K, H, W, D)``: K binary masks of one image (generated
candidates, or readers). Torch tensors and numpy arrays are both accepted; probabilities are accepted when a
``threshold`` is given (``mask = prob > threshold``).

Overlap conventions (as CIMD, PhiSeg and CCDM use them): ``Dice(empty, empty) = 1``, ``IoU(empty, empty) = 1``;
an empty mask against a non-empty one scores 0 — the convention of MONAI's :func:`monai.metrics.compute_dice`
and :func:`monai.metrics.compute_iou` with ``ignore_empty=False``, against which the tests check these values.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_mask_set", "pairwise_dice", "pairwise_iou", "select_readers"]

ABSENT_READER_CONVENTIONS = ("exclude", "empty")


def as_mask_set(x: object, name: str, threshold: float | None = None) -> np.ndarray:
    """Check a mask set and return it as a bool numpy array ``(K, *spatial)``.

    (The metrics run in numpy: on small masks torch's intra-op threads cost far more than they save, badly so
    on a loaded machine.)

    Raises:
        TypeError: not an array / tensor.
        ValueError: fewer than 2 or more than 4 dimensions, no mask, NaN/Inf, or non-binary values without a threshold.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().numpy()
    elif isinstance(x, np.ndarray):
        t = x
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    if t.ndim not in (3, 4):
        raise ValueError(f"{name} must have shape (K, H, W) or (K, H, W, D), got {tuple(t.shape)}")
    if t.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one mask, got shape {tuple(t.shape)}")
    if t.dtype == np.bool_:
        return t
    t = t.astype(np.float64)
    if not np.isfinite(t).all():
        raise ValueError(f"{name} contains NaN/Inf values")
    if threshold is not None:
        if not 0.0 <= float(threshold) < 1.0:
            raise ValueError(f"threshold must lie in [0, 1), got {threshold!r}")
        return t > float(threshold)
    if ((t != 0) & (t != 1)).any():
        raise ValueError(f"{name} is not binary (values other than 0 and 1); pass a threshold for probabilities")
    return t > 0.5


def select_readers(readers: np.ndarray, reader_present: object | None, absent_readers: str) -> np.ndarray:
    """Apply the absent-reader convention.

    ``"exclude"`` drops the readers who did not annotate; ``"empty"`` keeps them as empty masks (the usual LIDC
    benchmark convention, Kohl et al. 2018). ``reader_present`` is a bool vector ``(M,)``; None = all present.
    """
    if absent_readers not in ABSENT_READER_CONVENTIONS:
        raise ValueError(f"absent_readers must be one of {ABSENT_READER_CONVENTIONS}, got {absent_readers!r}")
    if reader_present is None:
        return readers
    if isinstance(reader_present, torch.Tensor):
        reader_present = reader_present.detach().cpu().numpy()
    present = np.asarray(reader_present).astype(bool).reshape(-1)
    if present.shape[0] != readers.shape[0]:
        raise ValueError(f"reader_present must have shape ({readers.shape[0]},), got {tuple(present.shape)}")
    if absent_readers == "empty":
        out = readers.copy()
        out[~present] = False
        return out
    if not present.any():
        raise ValueError("no reader is present: nothing to compare against (use absent_readers='empty' to score against empty masks)")
    return readers[present]


def _overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(|a_i ∩ b_j|, |a_i|, |b_j|)`` for every pair, as float64 (Ka, Kb), (Ka, 1), (1, Kb)."""
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"mask sets must share their spatial shape, got {tuple(a.shape[1:])} and {tuple(b.shape[1:])}")
    fa = a.reshape(a.shape[0], -1).astype(np.float64)
    fb = b.reshape(b.shape[0], -1).astype(np.float64)
    return fa @ fb.T, fa.sum(1, keepdims=True), fb.sum(1, keepdims=True).T


def pairwise_dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice of every pair: ``(Ka, Kb)`` float64 matrix for bool mask sets ``a`` (Ka, *sp) and ``b`` (Kb, *sp).

    Same values and empty-mask convention as ``monai.metrics.compute_dice(..., ignore_empty=False)`` (the tests
    check this), computed for all pairs at once with one matrix product instead of MONAI's per-pair loop.
    """
    inter, sa, sb = _overlaps(a, b)
    total = sa + sb
    return np.where(total > 0, 2.0 * inter / np.maximum(total, 1.0), 1.0)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair: ``(Ka, Kb)`` float64 matrix (as ``monai.metrics.compute_iou(..., ignore_empty=False)``)."""
    inter, sa, sb = _overlaps(a, b)
    union = sa + sb - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)
