"""Training samples from a whole scan and its readers' 3D lesions, prepared exactly as a click is at inference.

A reader's label of a scan holds the lesions they read, one labelmap value per lesion (a bool mask is one lesion).
Lesions of different readers that overlap are the same lesion read by several readers: they form one **lesion
group**, and each group gives its own samples. A reader who did not outline a group's lesion is **absent** from
its samples (``reader_present`` False), not a reader who saw "no lesion": a region they did not annotate says
nothing (they may not have read that part of the scan).

Per group, the ROI is the one a reader would get by drawing a box around the group's lesions: centred on them,
at the model's physical scale (:func:`ssb_core.volume.plan_roi` with ``roi``), over the slices they touch (at most
``max_slices``, around the centre). A present reader's slot holds all of their lesion voxels in that window. When
no reader drew anything, one set of samples at the image centre has every reader present with an empty mask.
Each ROI slice becomes one sample dict in the :mod:`ssb_core.data` convention that
:func:`ssb_core.training.fine_tune` takes:

- ``image`` (1, H, W) float32, normalised by the model's :class:`~ssb_core.preprocessing.Preprocessing`;
- ``masks`` (R, H, W) uint8, slot i = reader ``readers[i]`` (the mask resampled like the image, then thresholded
  at 1/2); ``reader_present`` (R,) bool;
- ``case_id`` ``<scan id>:k<slice>`` (``<scan id>:l<group>:k<slice>`` when the scan has several lesion groups);
  ``patient_id`` the scan id (scans are the unit of a validation split).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ssb_core.preprocessing import Preprocessing
from ssb_core.volume.roi import plan_roi

__all__ = ["lesion_groups", "union_box", "scan_training_samples"]


def union_box(union_zyx: np.ndarray) -> list[list[int]] | None:
    """``[[i0, i1], [j0, j1], [k0, k1]]`` (inclusive voxel indices) around a (Z, Y, X) mask; None when it is empty."""
    if not union_zyx.any():
        return None
    zs, ys, xs = np.nonzero(union_zyx)
    return [[int(xs.min()), int(xs.max())], [int(ys.min()), int(ys.max())], [int(zs.min()), int(zs.max())]]


def lesion_groups(labelmaps: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The lesion groups of a scan: ``[{reader: (Z, Y, X) bool of that reader's lesions in the group}]``.

    ``labelmaps``: reader -> (Z, Y, X) int labelmap (value v > 0 = lesion v) or bool mask (one lesion). Lesions that
    share a voxel are in one group (transitively); groups are ordered by their first voxel in C order."""
    lesions: list[tuple[str, np.ndarray]] = []
    for reader, lab in labelmaps.items():
        lab = np.asarray(lab)
        for v in (int(v) for v in np.unique(lab) if v != 0):
            lesions.append((reader, lab == v))
    parent = list(range(len(lesions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(lesions)):
        for b in range(a + 1, len(lesions)):
            if root(a) != root(b) and (lesions[a][1] & lesions[b][1]).any():
                parent[root(b)] = root(a)
    groups: dict[int, dict[str, np.ndarray]] = {}
    for i, (reader, mask) in enumerate(lesions):
        g = groups.setdefault(root(i), {})
        g[reader] = g[reader] | mask if reader in g else mask
    first = {k: int(np.flatnonzero(np.any(np.stack(list(g.values())), axis=0))[0]) for k, g in groups.items()}
    return [groups[k] for k in sorted(groups, key=first.__getitem__)]


def _samples_in_box(scan_id: str, volume_zyx: np.ndarray, spacing_xyz: Sequence[float], box: list[list[int]] | None,
                    slots_of: Mapping[str, np.ndarray], readers: list[str], preprocessing: Preprocessing, max_slices: int,
                    tag: str) -> list[dict]:
    click = plan_roi(volume_zyx.shape, spacing_xyz, preprocessing, roi=box)
    k_lo, k_hi = click.k_range
    centre = int(round(click.box.centre_ijk[2]))
    k_lo = max(k_lo, min(centre - max_slices // 2, k_hi - max_slices + 1))
    plan = click.box.with_slices(range(k_lo, min(k_hi, k_lo + max_slices - 1) + 1))
    where = (plan.slices, plan.y0, plan.x0, plan.ny, plan.nx)
    x = preprocessing.model_input(volume_zyx, *where)[:, 0].numpy()
    slots = np.zeros((x.shape[0], len(readers), *preprocessing.roi_size), dtype=np.uint8)
    present = np.zeros(len(readers), dtype=bool)
    for r, m in slots_of.items():
        slot = readers.index(r)
        slots[:, slot] = (preprocessing.resample_boxes(m.astype(np.float32), *where)[:, 0].numpy() > 0.5).astype(np.uint8)
        present[slot] = True
    return [
        {"image": x[b][None].astype(np.float32), "masks": slots[b], "reader_present": present.copy(),
         "case_id": f"{scan_id}{tag}:k{k}", "patient_id": scan_id}
        for b, k in enumerate(plan.slices)
    ]


def scan_training_samples(scan_id: str, volume_zyx: np.ndarray, spacing_xyz: Sequence[float],
                          masks: Mapping[str, np.ndarray], readers: Sequence[str], preprocessing: Preprocessing,
                          max_slices: int = 64) -> list[dict]:
    """The samples of one scan (see the module docstring).

    Args:
        volume_zyx: (Z, Y, X) intensities as stored (the preprocessing normalises them).
        masks: ``reader -> (Z, Y, X)`` labelmap (value = lesion) or bool mask on the scan's grid; every reader must be
            in ``readers``.
        readers: the mask slots, in the model's label order.

    Raises:
        ValueError: a reader without a slot, or a mask not on the scan's grid.
    """
    readers = list(readers)
    for r, m in masks.items():
        if r not in readers:
            raise ValueError(f"reader {r!r} has no slot in {readers}")
        if m.shape != volume_zyx.shape:
            raise ValueError(f"mask of {r!r} has shape {m.shape}, the scan {volume_zyx.shape}")
    groups = lesion_groups(masks)
    if not groups:  # every reader left the scan empty: the image centre, all of them present and empty
        empty = {r: np.zeros(volume_zyx.shape, bool) for r in masks}
        return _samples_in_box(scan_id, volume_zyx, spacing_xyz, None, empty, readers, preprocessing, max_slices, "")
    out = []
    for g, group in enumerate(groups):
        box = union_box(np.any(np.stack(list(group.values())), axis=0))
        slots_of = {r: np.asarray(masks[r]) != 0 for r in group}  # a present reader's every lesion voxel in the window
        out += _samples_in_box(scan_id, volume_zyx, spacing_xyz, box, slots_of, readers, preprocessing, max_slices,
                               f":l{g}" if len(groups) > 1 else "")
    return out
