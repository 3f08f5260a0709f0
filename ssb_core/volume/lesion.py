"""Which parts of a candidate belong to the clicked lesion.

A 2D model run slice by slice draws something on many slices: the lesion, but also vessels, chest wall or a
neighbouring nodule. What a reader asked for is the lesion under the click, so each candidate keeps only its
3D connected components that reach the *seed region*: the voxels within ``radius_mm`` of a click (or of the
ROI box's / image's centre). Connectivity: 8-neighbours in-plane, and across slices only the voxel straight
above / below (a component continues to the next slice where the two cross-sections overlap).

A reader's outline encloses its lesion: LIDC readers draw closed contours slice by slice, so their masks have no
holes on any slice. A candidate's holes (a bridge sample's pixels that fell under the threshold inside the lesion)
are filled slice by slice (:func:`fill_slice_holes`): a hole is background that no in-plane path connects to the
box's border. The candidates' diversity is then at their outer boundary, where readers disagree, and the
variability map no longer marks a hole inside one candidate as disagreement.

Arrays are on a plan's box grid: ``(N, S, ny, nx)`` for N candidates on S contiguous slices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ssb_core.volume.roi import RoiPlan

__all__ = ["CONNECTIVITY", "fill_slice_holes", "seed_region", "keep_connected"]

#: in-plane 8-connectivity; across slices only the face neighbour
CONNECTIVITY = np.zeros((3, 3, 3), dtype=bool)
CONNECTIVITY[1] = True
CONNECTIVITY[0, 1, 1] = CONNECTIVITY[2, 1, 1] = True


def seed_region(plan: RoiPlan, seeds_ijk: np.ndarray, spacing_xyz: Sequence[float], radius_mm: float) -> np.ndarray:
    """(S, ny, nx) bool: the box voxels within ``radius_mm`` (physical distance) of any seed (i, j, k).

    The voxel holding each seed is always included, however small the radius."""
    sx, sy, sz = (float(s) for s in spacing_xyz)
    ks = np.asarray(plan.slices, dtype=np.float64)[:, None, None]
    js = (plan.y0 + np.arange(plan.ny, dtype=np.float64))[None, :, None]
    i_s = (plan.x0 + np.arange(plan.nx, dtype=np.float64))[None, None, :]
    region = np.zeros((len(plan.slices), plan.ny, plan.nx), dtype=bool)
    for i, j, k in np.asarray(seeds_ijk, dtype=np.float64).reshape(-1, 3):
        d2 = ((i_s - i) * sx) ** 2 + ((js - j) * sy) ** 2 + ((ks - k) * sz) ** 2
        region |= d2 <= radius_mm**2
        near = (np.abs(ks - round(k)) < 0.5) & (np.abs(js - round(j)) < 0.5) & (np.abs(i_s - round(i)) < 0.5)
        region |= near
    return region


def keep_connected(masks: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per candidate, the 3D components of ``masks`` (N, S, ny, nx) that overlap ``region`` (S, ny, nx).

    Returns a new bool array of the same shape; a candidate with no component in the region becomes empty."""
    out = np.zeros(masks.shape, dtype=bool)
    for n in range(masks.shape[0]):
        if not masks[n].any():
            continue
        labels, count = ndimage.label(masks[n], structure=CONNECTIVITY)
        if count == 0:
            continue
        hit = np.unique(labels[region & masks[n]])
        hit = hit[hit > 0]
        if hit.size:
            out[n] = np.isin(labels, hit)
    return out



def fill_slice_holes(masks: np.ndarray) -> np.ndarray:
    """``masks`` (..., ny, nx) bool with the holes of every 2D slice filled (4-connected background that does not
    reach the slice's border is a hole). Returns a new array."""
    flat = np.asarray(masks, dtype=bool).reshape(-1, *masks.shape[-2:])
    out = np.stack([ndimage.binary_fill_holes(m) if m.any() else m for m in flat]) if flat.size else flat.copy()
    return out.reshape(masks.shape)
