"""Where the 2D model looks in an image: the ROI plan, cutting it out, and putting results back.

The plan is a stack of slices (array axis 0) and, in each, one in-plane box of ``ny x nx`` input voxels whose
physical size equals the model's field of view (``roi_size * spacing_mm``). The box is centred on the mean of
the foreground clicks, on the centre of an ROI box, or on the image centre; it may reach past the image
border (edge voxels are repeated there, and those parts are dropped on the way back). Slices:

- with an ROI box: the box's k range;
- with clicks: from the lowest to the highest clicked slice, widened by half the model's field of view;
- otherwise: the central slice widened the same way (for a 2D image: its only slice).

Cutting out (:func:`extract`) resamples each box to ``roi_size`` bilinearly (antialiased when shrinking);
:func:`to_box` resamples the model's output back to ``ny x nx`` and :func:`to_full` places box arrays on the
full (Z, Y, X) grid. Shapes: volumes (Z, Y, X); ROI batches (B, 1, H, W) with B = number of slices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lib.conventions import ModelConventions

__all__ = ["RoiError", "RoiPlan", "plan_roi", "extract", "crop_box", "to_box", "to_full", "box_valid"]


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
    conventions: ModelConventions,
    foreground: object = None,
    roi: object = None,
    max_slices: int = 64,
) -> RoiPlan:
    """The ROI for an image of ``shape_zyx`` voxels of ``spacing_xyz`` mm (see the module docstring).

    Raises:
        RoiError: a click outside the image, a malformed click or box, or a box outside the image.
    """
    z, y, x = shape_zyx
    sx, sy, sz = (float(s) for s in spacing_xyz)
    (h, w), (my, mx) = conventions.roi_size, conventions.spacing_mm
    ny, nx = max(1, round(h * my / sy)), max(1, round(w * mx / sx))
    half_z = int(math.floor(0.5 * h * my / sz)) if z > 1 else 0
    if roi is not None and roi != [] and roi != "":
        b = _box(roi, shape_zyx)
        centre = b.mean(axis=1)
        k_lo, k_hi, source = int(b[2, 0]), int(b[2, 1]), "roi"
    elif foreground is not None and foreground != [] and foreground != "":
        pts = _points(foreground, shape_zyx)
        centre = pts.mean(axis=0)
        k_lo, k_hi, source = int(round(pts[:, 2].min())) - half_z, int(round(pts[:, 2].max())) + half_z, "foreground"
    else:
        centre = np.array([(x - 1) / 2.0, (y - 1) / 2.0, (z - 1) / 2.0])
        kc = int(round(centre[2]))
        k_lo, k_hi, source = kc - half_z, kc + half_z, "image centre"
    k_lo, k_hi = max(0, k_lo), min(z - 1, k_hi)
    slices = list(range(k_lo, k_hi + 1))
    if len(slices) > max_slices:
        mid = int(round(centre[2]))
        start = min(max(mid - max_slices // 2, k_lo), k_hi - max_slices + 1)
        slices = slices[start - k_lo : start - k_lo + max_slices]
    y0, x0 = int(round(centre[1] - (ny - 1) / 2.0)), int(round(centre[0] - (nx - 1) / 2.0))
    return RoiPlan(tuple(slices), y0, x0, ny, nx, tuple(float(c) for c in centre), source)


def _indices(plan: RoiPlan, shape_zyx: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the box, clipped to the image (edge voxels repeat past the border)."""
    _, y, x = shape_zyx
    rows = np.clip(np.arange(plan.y0, plan.y0 + plan.ny), 0, y - 1)
    cols = np.clip(np.arange(plan.x0, plan.x0 + plan.nx), 0, x - 1)
    return rows, cols


def extract(volume_zyx: np.ndarray, plan: RoiPlan, roi_size: tuple[int, int]) -> torch.Tensor:
    """The plan's boxes resampled to the model's grid: (B, 1, H, W) float32, B = len(plan.slices)."""
    rows, cols = _indices(plan, volume_zyx.shape)
    crop = volume_zyx[np.ix_(list(plan.slices), rows, cols)].astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(crop))[:, None]
    if tuple(t.shape[-2:]) == tuple(roi_size):
        return t
    return F.interpolate(t, size=tuple(roi_size), mode="bilinear", align_corners=False, antialias=True)


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
