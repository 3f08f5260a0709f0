"""Where the 2D model looks in a scan: the ROI plan, and putting results back on the scan's grid.

A plan is a contiguous run of slices (array axis 0) and, in each, one in-plane box of ``ny x nx`` input voxels
whose physical size equals the model's field of view (:meth:`ssb_core.preprocessing.Preprocessing.box_size`).
The box is centred on the mean of the foreground clicks, on the centre of an ROI box, or on the image centre;
it may reach past the image border (edge voxels are repeated there, and those parts are dropped on the way
back). :func:`plan_roi` also returns the *seeds*: the clicked voxels (or the box / image centre) that a
candidate must reach to belong to the lesion (:mod:`ssb_core.volume.lesion`), and the slice range the lesion
may grow into (the ROI box's k range, or the whole scan).

:func:`to_box` resamples the model's output back to ``ny x nx`` and :func:`to_full` places box arrays on the
full (Z, Y, X) grid. Shapes: volumes (Z, Y, X); model batches (B, 1, H, W) with B = number of slices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ssb_core.preprocessing import Preprocessing

__all__ = ["RoiError", "RoiPlan", "ClickPlan", "plan_roi", "crop_box", "to_box", "to_full", "box_valid"]


class RoiError(ValueError):
    """A click or an ROI box that cannot be used (outside the image, malformed)."""


@dataclass(frozen=True)
class RoiPlan:
    """Slices ``slices`` and the in-plane box rows ``y0 .. y0 + ny - 1``, columns ``x0 .. x0 + nx - 1``."""

    slices: tuple[int, ...]
    y0: int
    x0: int
    ny: int
    nx: int
    centre_ijk: tuple[float, float, float]
    source: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["slices"] = [min(self.slices), max(self.slices)]
        d["num_slices"] = len(self.slices)
        return d

    def with_slices(self, slices: Sequence[int]) -> "RoiPlan":
        """The same box on other slices (contiguous, ascending)."""
        return RoiPlan(tuple(int(k) for k in slices), self.y0, self.x0, self.ny, self.nx, self.centre_ijk, self.source)


@dataclass(frozen=True)
class ClickPlan:
    """Where to start and how far a lesion may grow.

    Attributes:
        box: the in-plane box, on the slices to sample first (the clicked slices).
        seeds_ijk: (P, 3) float voxel indices (i, j, k) a candidate must reach to belong to the lesion.
        k_range: (k_lo, k_hi) inclusive slices the lesion may grow into.
    """

    box: RoiPlan
    seeds_ijk: np.ndarray
    k_range: tuple[int, int]

    def with_box_size(self, ny: int, nx: int) -> "ClickPlan":
        """The same click with an in-plane box of ``ny x nx`` voxels around the same centre (another zoom)."""
        ci, cj = self.box.centre_ijk[0], self.box.centre_ijk[1]
        y0, x0 = int(round(cj - (ny - 1) / 2.0)), int(round(ci - (nx - 1) / 2.0))
        box = RoiPlan(self.box.slices, y0, x0, int(ny), int(nx), self.box.centre_ijk, self.box.source)
        return ClickPlan(box, self.seeds_ijk, self.k_range)


def _points(points: object, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """(P, 3) float (i, j, k) clicks, each checked to lie inside the image."""
    z, y, x = shape_zyx
    if not isinstance(points, (list, tuple)) or not points:
        raise RoiError(f"foreground must be a list of [i, j, k] voxel indices, got {points!r}")
    if all(isinstance(v, (int, float)) for v in points):  # a single point given flat
        points = [points]
    out = []
    for p in points:
        if not isinstance(p, (list, tuple)) or len(p) not in (2, 3) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in p):
            raise RoiError(f"each foreground point must be [i, j] or [i, j, k] numbers, got {p!r}")
        i, j, k = (float(p[0]), float(p[1]), float(p[2]) if len(p) == 3 else 0.0)
        if not (0 <= round(i) < x and 0 <= round(j) < y and 0 <= round(k) < z):
            raise RoiError(
                f"click {list(p)} lies outside the image: voxel indices must be within i 0..{x - 1}, j 0..{y - 1}, k 0..{z - 1}"
            )
        out.append((i, j, k))
    return np.array(out, dtype=np.float64)


def _box(box: object, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """(3, 2) int [[i0, i1], [j0, j1], [k0, k1]] clipped to the image; accepts Slicer's flat list too."""
    z, y, x = shape_zyx
    flat = list(np.asarray(box, dtype=np.float64).reshape(-1)) if isinstance(box, (list, tuple)) else None
    if flat is None or len(flat) not in (4, 6) or not all(math.isfinite(v) for v in flat):
        raise RoiError(f"roi must be [[i0, i1], [j0, j1], [k0, k1]] (or Slicer's flat [i0, i1, j0, j1, k0, k1]), got {box!r}")
    flat = flat + [0.0, 0.0] if len(flat) == 4 else flat
    b = np.array(flat).reshape(3, 2)
    b.sort(axis=1)
    limits = np.array([x - 1, y - 1, z - 1])
    if (b[:, 1] < 0).any() or (b[:, 0] > limits).any():
        raise RoiError(f"roi {box!r} lies outside the image (voxel indices i 0..{x - 1}, j 0..{y - 1}, k 0..{z - 1})")
    return np.clip(np.round(b), 0, limits[:, None]).astype(int)


def plan_roi(
    shape_zyx: tuple[int, int, int],
    spacing_xyz: Sequence[float],
    preprocessing: Preprocessing,
    foreground: object = None,
    roi: object = None,
) -> ClickPlan:
    """Box, seeds and growth range for an image of ``shape_zyx`` voxels of ``spacing_xyz`` mm.

    - clicks (``foreground``): the box is centred on their mean, the seeds are the clicks, the first slices are
      the clicked ones, and the lesion may grow through the whole scan;
    - an ROI box (Slicer): centred on the box, one seed at its centre, growth limited to the box's k range;
    - neither: the image centre, as a click there.

    Raises:
        RoiError: a click outside the image, a malformed click or box, or a box outside the image.
    """
    z, y, x = shape_zyx
    ny, nx = preprocessing.box_size(spacing_xyz)
    if roi is not None and roi != [] and roi != "":
        b = _box(roi, shape_zyx)
        centre = b.mean(axis=1)
        seeds = np.round(centre)[None]
        k_range, source = (int(b[2, 0]), int(b[2, 1])), "roi"
    elif foreground is not None and foreground != [] and foreground != "":
        seeds = _points(foreground, shape_zyx)
        centre = seeds.mean(axis=0)
        k_range, source = (0, z - 1), "foreground"
    else:
        centre = np.array([(x - 1) / 2.0, (y - 1) / 2.0, (z - 1) / 2.0])
        seeds = np.round(centre)[None]
        k_range, source = (0, z - 1), "image centre"
    ks = np.clip(np.round(seeds[:, 2]).astype(int), k_range[0], k_range[1])
    first = tuple(range(int(ks.min()), int(ks.max()) + 1))
    y0, x0 = int(round(centre[1] - (ny - 1) / 2.0)), int(round(centre[0] - (nx - 1) / 2.0))
    box = RoiPlan(first, y0, x0, ny, nx, tuple(float(c) for c in centre), source)
    return ClickPlan(box, seeds, k_range)


def _indices(plan: RoiPlan, shape_zyx: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the box, clipped to the image (edge voxels repeat past the border)."""
    _, y, x = shape_zyx
    rows = np.clip(np.arange(plan.y0, plan.y0 + plan.ny), 0, y - 1)
    cols = np.clip(np.arange(plan.x0, plan.x0 + plan.nx), 0, x - 1)
    return rows, cols


def crop_box(volume_zyx: np.ndarray, plan: RoiPlan) -> np.ndarray:
    """The plan's boxes on the input grid, no resampling: (B, ny, nx), zero where the box leaves the image."""
    rows, cols = _indices(plan, volume_zyx.shape)
    crop = volume_zyx[np.ix_(list(plan.slices), rows, cols)]
    rs, cs = box_valid(plan, volume_zyx.shape)
    out = np.zeros_like(crop)
    out[:, rs, cs] = crop[:, rs, cs]
    return out


def to_box(model_maps: torch.Tensor, plan: RoiPlan) -> np.ndarray:
    """(..., H, W) maps on the model's grid -> (..., ny, nx) float32 on the input voxel grid (bilinear)."""
    lead = model_maps.shape[:-2]
    t = model_maps.reshape(-1, 1, *model_maps.shape[-2:]).float()
    if tuple(t.shape[-2:]) != (plan.ny, plan.nx):
        t = F.interpolate(t, size=(plan.ny, plan.nx), mode="bilinear", align_corners=False)
    return t.reshape(*lead, plan.ny, plan.nx).numpy()


def to_full(box: np.ndarray, plan: RoiPlan, shape_zyx: tuple[int, int, int], fill: float = 0) -> np.ndarray:
    """(..., B, ny, nx) box arrays -> (..., Z, Y, X) arrays of the same dtype, ``fill`` outside the plan."""
    z, y, x = shape_zyx
    out = np.full((*box.shape[:-3], z, y, x), fill, dtype=box.dtype)
    ys, xs = max(0, plan.y0), max(0, plan.x0)
    ye, xe = min(y, plan.y0 + plan.ny), min(x, plan.x0 + plan.nx)
    out[..., list(plan.slices), ys:ye, xs:xe] = box[..., ys - plan.y0 : ye - plan.y0, xs - plan.x0 : xe - plan.x0]
    return out


def box_valid(plan: RoiPlan, shape_zyx: tuple[int, int, int]) -> tuple[slice, slice]:
    """The (row, col) slices of a box array that lie inside the image."""
    _, y, x = shape_zyx
    return slice(max(0, -plan.y0), min(plan.ny, y - plan.y0)), slice(max(0, -plan.x0), min(plan.nx, x - plan.x0))
