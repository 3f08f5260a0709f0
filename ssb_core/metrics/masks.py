"""Mask sets for the metrics: input checks, binarisation and the absent-reader conventions.

A *mask set* is an array of shape ``(K, H, W)`` or ``(K, H, W, D)``: K masks of one image (the N generated
candidates, or the M readers). Torch tensors (any device; they are copied to the CPU) and numpy arrays are both
accepted. Values must be binary ({0, 1} or bool) unless a ``threshold`` is given, in which case
``mask = value > threshold`` (for probabilities; ``threshold`` in [0, 1)).

Readers who did not annotate an image are described by a boolean ``reader_present`` vector ``(M,)`` and one of
two conventions (:data:`ABSENT_READER_CONVENTIONS`):

- ``"exclude"`` (the default of this package): drop them; the image is scored against the readers who did
  annotate. This is what "agreement with the radiologists" means when a reader's silence is not a statement.
- ``"empty"``: keep them as empty masks, the convention of the LIDC-IDRI benchmark data of Kohl et al. 2018
  (Probabilistic U-Net), which the published LIDC tables (PhiSeg, CIMD, CCDM, the SSB paper) inherit. Use it to
  compare with those tables.

Every result object of :mod:`ssb_core.metrics` records which convention produced it.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

__all__ = [
    "ABSENT_READER_CONVENTIONS",
    "DEFAULT_ABSENT_READERS",
    "as_mask_set",
    "as_reader_present",
    "check_absent_readers",
    "check_same_spatial_shape",
    "check_threshold",
    "select_readers",
]

ABSENT_READER_CONVENTIONS = ("exclude", "empty")
"""``"exclude"``: drop readers who did not annotate; ``"empty"``: count them as empty masks (Kohl et al. 2018)."""

DEFAULT_ABSENT_READERS = "exclude"

_IMAGE_SPATIAL_NDIMS = (2, 3)


def check_threshold(threshold: object) -> float | None:
    """Validate a binarisation threshold: None, or a finite real number in [0, 1).

    Raises:
        TypeError: not a real number (bools are rejected too).
        ValueError: NaN/Inf or outside [0, 1).
    """
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise TypeError(f"threshold must be a real number in [0, 1) or None, got {type(threshold).__name__}")
    value = float(threshold)
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"threshold must lie in [0, 1) (masks are value > threshold), got {threshold!r}")
    return value


def check_absent_readers(absent_readers: object) -> str:
    """Validate the absent-reader convention (one of :data:`ABSENT_READER_CONVENTIONS`)."""
    if absent_readers not in ABSENT_READER_CONVENTIONS:
        raise ValueError(f"absent_readers must be one of {ABSENT_READER_CONVENTIONS}, got {absent_readers!r}")
    return str(absent_readers)


def _to_numpy(x: object, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")


def as_mask_set(
    x: object,
    name: str = "masks",
    threshold: float | None = None,
    *,
    spatial_ndims: tuple[int, ...] | None = _IMAGE_SPATIAL_NDIMS,
) -> np.ndarray:
    """Check a mask set and return it as a bool numpy array ``(K, *spatial)``.

    Args:
        x: numpy array or torch tensor ``(K, H, W)`` or ``(K, H, W, D)``; bool, integer or float.
        name: what to call it in error messages (``"samples"``, ``"readers"``).
        threshold: binarise with ``x > threshold``; None requires binary values (0/1 or bool).
        spatial_ndims: accepted numbers of spatial dimensions; None accepts any (at least one), e.g. flattened
            ``(K, P)`` pixel vectors.

    Raises:
        TypeError: not an array / tensor, or a non-numeric dtype.
        ValueError: wrong number of dimensions, no mask (K = 0), NaN/Inf, or non-binary values without a threshold.
    """
    threshold = check_threshold(threshold)
    t = _to_numpy(x, name)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a bool, integer or float array, got dtype {t.dtype}")
    if spatial_ndims is None:
        if t.ndim < 2:
            raise ValueError(f"{name}: expected shape (K, *spatial) with at least one spatial dim, got {tuple(t.shape)}")
    elif t.ndim - 1 not in spatial_ndims:
        expected = " or ".join({2: "(K, H, W)", 3: "(K, H, W, D)"}.get(d, f"(K, <{d} spatial dims>)") for d in spatial_ndims)
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(t.shape)}")
    if t.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one mask (K >= 1), got shape {tuple(t.shape)}")
    if t.dtype == np.bool_:
        return t
    if t.dtype.kind == "f" and not np.isfinite(t).all():
        raise ValueError(f"{name}: expected finite values, got NaN/Inf")
    if threshold is not None:
        return t > threshold
    if ((t != 0) & (t != 1)).any():
        bad = t[(t != 0) & (t != 1)].flat[0]
        raise ValueError(f"{name}: expected binary values 0/1 (or pass threshold= for probabilities), got e.g. {bad!r}")
    return t != 0


def check_same_spatial_shape(samples: np.ndarray, readers: np.ndarray) -> None:
    """Raise ValueError unless the two mask sets share their spatial shape (the number of masks may differ)."""
    if samples.shape[1:] != readers.shape[1:]:
        raise ValueError(
            f"readers must have the spatial shape of samples: expected (M, {', '.join(map(str, samples.shape[1:]))}), "
            f"got {tuple(readers.shape)} (samples: {tuple(samples.shape)})"
        )


def as_reader_present(reader_present: object, num_readers: int) -> np.ndarray:
    """Check ``reader_present`` and return it as a bool numpy vector ``(M,)``.

    Accepts bool arrays / tensors / lists, or integers 0/1; None means every reader annotated.

    Raises:
        ValueError: wrong shape, or values other than 0/1.
        TypeError: a float or non-numeric dtype.
    """
    if reader_present is None:
        return np.ones(num_readers, dtype=bool)
    if isinstance(reader_present, torch.Tensor):
        reader_present = reader_present.detach().cpu().numpy()
    present = np.asarray(reader_present)
    if present.shape != (num_readers,):
        raise ValueError(f"reader_present: expected shape ({num_readers},), got {tuple(present.shape)}")
    if present.dtype == np.bool_:
        return present
    if present.dtype.kind not in "iu":
        raise TypeError(f"reader_present: expected a bool (or 0/1 integer) vector, got dtype {present.dtype}")
    if ((present != 0) & (present != 1)).any():
        raise ValueError(f"reader_present: expected 0/1 values, got {present.tolist()}")
    return present.astype(bool)


def select_readers(readers: np.ndarray, reader_present: object | None, absent_readers: str) -> np.ndarray:
    """Apply the absent-reader convention to a bool reader set ``(M, *spatial)``.

    ``"exclude"`` returns the present readers only (raises when none is present: there is nothing to score
    against); ``"empty"`` returns all M slots with the absent ones set to empty masks.
    """
    absent_readers = check_absent_readers(absent_readers)
    present = as_reader_present(reader_present, readers.shape[0])
    if present.all():
        return readers
    if absent_readers == "empty":
        out = readers.copy()
        out[~present] = False
        return out
    if not present.any():
        raise ValueError(
            "reader_present: expected at least one present reader with absent_readers='exclude', got none "
            "(use absent_readers='empty' to score against empty masks)"
        )
    return readers[present]
