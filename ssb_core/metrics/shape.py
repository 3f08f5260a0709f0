"""Does a mask look like a reader's mask? One connected region without holes, and its size against the readers'.

Readers disagree at a lesion's boundary, but each draws one closed outline: never a mask in pieces, never one with
holes. These figures measure how far a method's candidates depart from that, beside the same figures for the
readers, and how large the candidates are against the readers' masks.

Conventions (each tested in ``tests/metrics/test_shape.py`` with a case that fails if it were otherwise):

- **Masks.** One mask is ``(H, W)`` or, in 3D, ``(Z, Y, X)`` with the axial slices along ``slice_axis`` (default
  0: the order of ``ssb_core.volume`` and of scans read with SimpleITK; pass ``-1`` for the metrics package's
  ``(H, W, D)``). A mask set is ``(K, *mask)``. numpy or torch; binary (0/1 or bool).
- **Regions** are connected components with **8-connectivity in 2D and 26-connectivity in 3D** (pixels touching by
  an edge or a corner are one region). Note: :data:`ssb_core.volume.lesion.CONNECTIVITY`, which decides which parts
  of a candidate are kept at a click, is stricter across slices (the face neighbour only), so a candidate it keeps
  whole is one region here too.
- **Holes** are background pixels not connected to the border of the mask's bounding box: exactly where
  :func:`scipy.ndimage.binary_fill_holes` changes the mask. The background is connected through faces only
  (4-connectivity in 2D, 6 in 3D), the dual of the regions' 8 / 26, so a ring closed only through a corner still
  encloses a hole and a region's outline cannot leak through a diagonal gap.
- **Holes in 3D** come in two kinds (:data:`HOLE_KINDS`): ``"slices"``, a hole in any axial slice (what a reader
  scrolling through the slices sees; a tube or a doughnut has one), and ``"cavities"``, a pocket of background
  enclosed in 3D. Every cavity shows as a hole on the axial slices through it, so ``"slices"`` is the stricter of
  the two, and **it is the one that** :func:`one_region_without_holes` **and the aggregate figures use**.
- **Empty masks** are neither one region nor in pieces: :func:`one_region_without_holes` is False for them, and
  the aggregates count them apart (``empty``) and take ``one_region`` over the non-empty masks only.
- **Size** is the number of pixels (2D: area) or voxels (3D: volume). :func:`size_ratio` is the median size of
  the non-empty candidates over the median size of the non-empty reader masks; empty masks of either side are left
  out (an empty candidate is counted by ``empty`` instead, a present reader's empty mask says "no lesion on this
  slice", not a size), and the ratio is NaN when either side has no non-empty mask (dataset means skip it).

Per image, for the evaluation harness (:data:`SHAPE_METRIC_NAMES`): :func:`shape_metrics` of the candidates
(``one_region``, ``empty``, ``area_ratio``) and :func:`reader_shape_metrics` of the present readers' masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ssb_core.metrics.masks import as_mask_set, as_reader_present, check_same_spatial_shape

__all__ = [
    "HOLE_KINDS", "SHAPE_HIGHER_IS_BETTER", "SHAPE_METRIC_NAMES", "MaskSetShape", "count_regions", "has_holes",
    "mask_set_shape", "median_size", "one_region_without_holes", "reader_shape_metrics", "shape_metrics", "size_ratio",
]

SHAPE_METRIC_NAMES = ("one_region", "empty", "area_ratio")
"""The per-image shape figures the evaluation can add: the share of non-empty candidates that are one region
without holes, the share of empty candidates, the candidates' median size over the readers' (2D: area)."""

SHAPE_HIGHER_IS_BETTER = {"one_region": True}
"""Direction of the shape figures that have one. ``empty`` and ``area_ratio`` have none: an empty candidate is right
where the readers saw nothing (a present reader's empty mask at a nodule's end), so compare ``empty`` with the
readers' own share; ``area_ratio`` is best at 1 (the readers' size)."""

HOLE_KINDS = ("slices", "cavities")
"""3D holes: in any axial slice (the figures' definition), or background enclosed in 3D."""

#: regions: 8-connectivity in 2D, 26 in 3D (edges and corners)
_REGION_STRUCTURE = {2: ndimage.generate_binary_structure(2, 2), 3: ndimage.generate_binary_structure(3, 3)}


def _as_mask(mask: object, name: str = "mask") -> np.ndarray:
    """One binary mask (H, W) or (Z, Y, X) as a bool numpy array."""
    if not isinstance(mask, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(mask).__name__}")
    if mask.ndim not in (2, 3):
        raise ValueError(f"{name}: expected one mask of shape (H, W) or (Z, Y, X), got {tuple(mask.shape)}")
    return as_mask_set(mask[None], name)[0]


def _check_slice_axis(slice_axis: int, ndim: int) -> int:
    if isinstance(slice_axis, bool) or not isinstance(slice_axis, (int, np.integer)) or not -ndim <= slice_axis < ndim:
        raise ValueError(f"slice_axis: expected an axis of a {ndim}-D mask (-{ndim}..{ndim - 1}), got {slice_axis!r}")
    return int(slice_axis) % ndim


def _encloses_background(mask: np.ndarray) -> bool:
    """Whether some background of ``mask`` (any number of dims) is cut off from its bounding box's border.

    ``binary_fill_holes`` treats background connected (through faces) to the array's border as outside; on the
    bounding-box crop that border is the box's, and the result is the same as on the full array (the background
    just outside the box is connected to the array's border along a straight line)."""
    if not mask.any():
        return False
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(mask))
    crop = mask[box]
    return bool((ndimage.binary_fill_holes(crop) != crop).any())


def count_regions(mask: object) -> int:
    """Connected regions of one mask (H, W) or (Z, Y, X): 8-connectivity in 2D, 26 in 3D; 0 for an empty mask."""
    m = _as_mask(mask)
    return int(ndimage.label(m, structure=_REGION_STRUCTURE[m.ndim])[1])


def has_holes(mask: object, kind: str = "slices", slice_axis: int = 0) -> bool:
    """Whether one mask has holes (module docstring): background not connected to its bounding box's border.

    Args:
        mask: (H, W) or (Z, Y, X) binary.
        kind: 3D only (a 2D mask has one kind of hole): ``"slices"``, a hole in any slice along ``slice_axis``,
            or ``"cavities"``, background enclosed in 3D.
        slice_axis: 3D only, the axis of the axial slices (default 0, ``(Z, Y, X)``).
    """
    if kind not in HOLE_KINDS:
        raise ValueError(f"kind: expected one of {HOLE_KINDS}, got {kind!r}")
    m = _as_mask(mask)
    if m.ndim == 2 or kind == "cavities":
        return _encloses_background(m)
    return any(_encloses_background(s) for s in np.moveaxis(m, _check_slice_axis(slice_axis, 3), 0))


def one_region_without_holes(mask: object, slice_axis: int = 0) -> bool:
    """Whether one mask is drawn as a reader draws: non-empty, one region, no hole (in 3D: in no axial slice)."""
    m = _as_mask(mask)
    return bool(m.any()) and count_regions(m) == 1 and not has_holes(m, "slices", slice_axis)


@dataclass(frozen=True)
class MaskSetShape:
    """How many masks of a set are empty, and how many of the others are one region without holes.

    Attributes:
        num_masks: K. num_empty: the empty masks. num_one_region: the non-empty masks that are one region
            without holes.
    """

    num_masks: int
    num_empty: int
    num_one_region: int

    @property
    def num_non_empty(self) -> int:
        return self.num_masks - self.num_empty

    @property
    def one_region(self) -> float:
        """Share of the non-empty masks that are one region without holes; NaN when every mask is empty."""
        return self.num_one_region / self.num_non_empty if self.num_non_empty else math.nan

    @property
    def empty(self) -> float:
        """Share of empty masks; NaN for a set of no mask."""
        return self.num_empty / self.num_masks if self.num_masks else math.nan


def mask_set_shape(masks: object, slice_axis: int = 0) -> MaskSetShape:
    """:class:`MaskSetShape` of a set ``(K, H, W)`` or ``(K, Z, Y, X)`` (``slice_axis`` of each mask, 3D only)."""
    s = as_mask_set(masks, "masks")
    empty = [not m.any() for m in s]
    one = sum(one_region_without_holes(m, slice_axis) for m, e in zip(s, empty) if not e)
    return MaskSetShape(int(s.shape[0]), int(sum(empty)), int(one))


def median_size(masks: object) -> float:
    """Median pixel (2D) or voxel (3D) count of the non-empty masks of a set (K, ...); NaN when all are empty."""
    s = as_mask_set(masks, "masks")
    sizes = s.reshape(s.shape[0], -1).sum(axis=1)
    sizes = sizes[sizes > 0]
    return float(np.median(sizes)) if sizes.size else math.nan


def size_ratio(candidates: object, readers: object) -> float:
    """Median size of the non-empty candidates over that of the non-empty reader masks (module docstring); NaN when
    either set has no non-empty mask. Pass only the readers present (see :func:`shape_metrics`)."""
    s, y = as_mask_set(candidates, "candidates"), as_mask_set(readers, "readers")
    check_same_spatial_shape(s, y)
    return median_size(s) / median_size(y)


def _present(readers: object, reader_present: object | None) -> np.ndarray:
    y = as_mask_set(readers, "readers")
    return y[as_reader_present(reader_present, y.shape[0])]


def shape_metrics(candidates: object, readers: object, reader_present: object | None = None, slice_axis: int = 0) -> dict[str, float]:
    """The shape figures of one image's candidates (:data:`SHAPE_METRIC_NAMES`).

    Args:
        candidates: (N, H, W[, ...]) binary. readers: (M, H, W[, ...]) binary.
        reader_present: (M,) bool (None = all): ``area_ratio`` is taken against the present readers only (an
            absent reader's zero mask is no drawing, and an empty mask does not enter the median either way, so the
            figure is the same under both absent-reader conventions).

    Returns:
        ``{"one_region": share of non-empty candidates one region w/o holes (NaN if all empty), "empty": share of
        empty candidates, "area_ratio": median candidate size / median reader size (NaN if either has none)}``.
    """
    s = as_mask_set(candidates, "candidates")
    y = _present(readers, reader_present)
    shape = mask_set_shape(s, slice_axis)
    ratio = size_ratio(s, y) if y.shape[0] else math.nan
    return {"one_region": shape.one_region, "empty": shape.empty, "area_ratio": ratio}


def reader_shape_metrics(readers: object, reader_present: object | None = None, slice_axis: int = 0) -> dict[str, float]:
    """``one_region`` and ``empty`` of the present readers' masks of one image (the human reference; NaN when no
    reader is present). A present reader's empty mask (no lesion on this slice) counts as empty."""
    y = _present(readers, reader_present)
    if not y.shape[0]:
        return {"one_region": math.nan, "empty": math.nan}
    shape = mask_set_shape(y, slice_axis)
    return {"one_region": shape.one_region, "empty": shape.empty}
