"""Which parts of a candidate belong to the clicked lesion.

A 2D model run slice by slice draws something on many slices: the lesion, but also vessels, chest wall or a
neighbouring nodule. What a reader asked for is the lesion under the click, so :func:`clicked_lesion` keeps of
each candidate only:

1. for each click, the one 3D connected component that holds the click's voxel, or else the component nearest to
   it within ``radius_mm`` (of the click, or of the ROI box's / image's centre when there is no click): one
   lesion per click, never a second structure that happens to pass near it. Connectivity: 8-neighbours
   in-plane, and across slices only the voxel straight above / below (a component continues to the next slice
   where the two cross-sections overlap);
2. the slices up to its first *neck* on each side of the clicked slices (:func:`cut_at_necks`): a nodule's
   cross-section grows and shrinks once along z; where a candidate's cross-section has shrunk below
   ``neck_fraction`` of its largest one and then grows again, what follows is another structure joined to the
   lesion by a thin bridge (a vessel, a fissure, a neighbouring nodule), and it is cut there.

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

__all__ = ["CONNECTIVITY", "clicked_lesion", "cut_at_necks", "fill_slice_holes", "keep_nearest_components",
           "seed_distances"]

#: in-plane 8-connectivity; across slices only the face neighbour
CONNECTIVITY = np.zeros((3, 3, 3), dtype=bool)
CONNECTIVITY[1] = True
CONNECTIVITY[0, 1, 1] = CONNECTIVITY[2, 1, 1] = True


def seed_distances(plan: RoiPlan, seeds_ijk: np.ndarray, spacing_xyz: Sequence[float],
                   max_mm: float | None = None) -> np.ndarray:
    """(P, S, ny, nx) float: the physical distance (mm) of every box voxel to each of the P seeds (i, j, k).

    The voxel holding a seed is at distance 0 from it. With ``max_mm`` only the voxels within ``max_mm`` of a seed
    along each axis are computed and the others are +inf (what :func:`keep_nearest_components` reads of a distance is
    whether it is within its radius, and the nearest voxel within it)."""
    sx, sy, sz = (float(s) for s in spacing_xyz)
    axes = (np.asarray(plan.slices, dtype=np.float64), plan.y0 + np.arange(plan.ny, dtype=np.float64),
            plan.x0 + np.arange(plan.nx, dtype=np.float64))  # k, j, i of the box's voxels
    seeds = np.asarray(seeds_ijk, dtype=np.float64).reshape(-1, 3)
    out = np.full((len(seeds), len(plan.slices), plan.ny, plan.nx), np.inf)
    for p, (i, j, k) in enumerate(seeds):
        near_axes = [np.flatnonzero(np.abs(a - c) * mm <= max_mm) if max_mm is not None else np.arange(a.size)
                     for a, c, mm in zip(axes, (k, j, i), (sz, sy, sx))]
        if all(n.size for n in near_axes):
            ks, js, i_s = (a[n] for a, n in zip(axes, near_axes))
            out[p][np.ix_(*near_axes)] = np.sqrt(((i_s[None, None, :] - i) * sx) ** 2 + ((js[None, :, None] - j) * sy) ** 2
                                                 + ((ks[:, None, None] - k) * sz) ** 2)
        at = [np.flatnonzero(np.abs(a - round(c)) < 0.5) for a, c in zip(axes, (k, j, i))]
        if all(n.size for n in at):
            out[p][np.ix_(*at)] = 0.0
    return out


def keep_nearest_components(masks: np.ndarray, distances: np.ndarray, radius_mm: float) -> np.ndarray:
    """Per candidate of ``masks`` (N, S, ny, nx) and per seed, the one 3D component nearest to the seed.

    ``distances``: (P, S, ny, nx) from :func:`seed_distances`. A component counts for a seed when one of its voxels
    is within ``radius_mm`` of it; of those, the one holding the voxel nearest to the seed is kept (ties: the
    lowest label). Returns a new bool array; a candidate with no component near any seed becomes empty."""
    out = np.zeros(masks.shape, dtype=bool)
    for n in range(masks.shape[0]):
        if not masks[n].any():
            continue
        labels, count = ndimage.label(masks[n], structure=CONNECTIVITY)
        keep = set()
        for d in distances:
            near = masks[n] & (d <= float(radius_mm))
            if near.any():
                keep.add(int(labels[near][np.argmin(d[near])]))
        if keep:
            out[n] = np.isin(labels, sorted(keep))
    return out


def cut_at_necks(masks: np.ndarray, first: int, last: int, neck_fraction: float) -> np.ndarray:
    """``masks`` (N, S, ny, nx) with each candidate cut at its first neck on either side of slices ``first..last``.

    Walking away from the clicked slices ``first..last`` (indices along S), a candidate's cross-section area a(s) is
    compared with the largest one met so far (from the clicked slices on): at the first slice s where a(s) is at
    most ``neck_fraction`` of that and the next slice grows again (a(s+1) > a(s)), everything past s is removed.
    ``neck_fraction`` 0 = no cut. Returns a new array."""
    out = np.array(masks, dtype=bool, copy=True)
    if neck_fraction <= 0 or out.shape[1] < 3:
        return out
    areas = out.reshape(*out.shape[:2], -1).sum(axis=2)
    for n in range(out.shape[0]):
        a = areas[n]
        for start, steps in ((last, list(range(last + 1, out.shape[1]))), (first, list(range(first - 1, -1, -1)))):
            peak, prev = int(a[first : last + 1].max()), start
            for pos, s in enumerate(steps):
                if a[prev] <= neck_fraction * peak and a[s] > a[prev]:
                    out[n, steps[pos:]] = False
                    break
                peak, prev = max(peak, int(a[s])), s
    return out


def clicked_lesion(masks: np.ndarray, plan: RoiPlan, seeds_ijk: np.ndarray, spacing_xyz: Sequence[float],
                   radius_mm: float, neck_fraction: float) -> np.ndarray:
    """The clicked lesion's part of each candidate ``masks`` (N, S, ny, nx) on ``plan`` (see the module docstring):
    the component nearest to each seed, cut at its necks beyond the seeds' slices, then again the component nearest
    to each seed (a cut can separate parts). Returns a new bool array."""
    distances = seed_distances(plan, seeds_ijk, spacing_xyz, max_mm=radius_mm)
    kept = keep_nearest_components(masks, distances, radius_mm)
    if len(plan.slices) < 3 or neck_fraction <= 0:
        return kept
    seed_k = np.asarray(seeds_ijk, dtype=np.float64).reshape(-1, 3)[:, 2]
    index = {k: s for s, k in enumerate(plan.slices)}
    clicked = [index[int(round(k))] for k in seed_k if int(round(k)) in index]
    if not clicked:
        return kept
    cut = cut_at_necks(kept, min(clicked), max(clicked), neck_fraction)
    return keep_nearest_components(cut, distances, radius_mm)


def fill_slice_holes(masks: np.ndarray) -> np.ndarray:
    """``masks`` (..., ny, nx) bool with the holes of every 2D slice filled (4-connected background that does not
    reach the slice's border is a hole). Returns a new array."""
    flat = np.asarray(masks, dtype=bool).reshape(-1, *masks.shape[-2:])
    out = np.stack([ndimage.binary_fill_holes(m) if m.any() else m for m in flat]) if flat.size else flat.copy()
    return out.reshape(masks.shape)
