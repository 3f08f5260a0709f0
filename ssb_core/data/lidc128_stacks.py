"""lidc128's nodules as small 3D scans: each nodule's crops stacked along z, for the whole-scan path on unseen nodules.

The lidc128 crops of one nodule are cut around the same point on consecutive slices (adjacent crops' pixels correlate
at 0.9 and more; the readers' centroids drift as a nodule's do), so stacking them in ``slice_index`` order gives a
(S, 128, 128) sub-volume of the scan at its native pixel size and slice thickness, with each reader's 3D mask. The
whole-scan path (:func:`ssb_core.volume.segment_lesion`) runs on it as on a whole CT: a click at the nodule, the zoom,
the vote, the growth through the slices. Two things differ from a whole CT, and both are said where the figures are
shown:

- the stack holds only the slices some reader drew on (and the crops' own margins): the growth stops at the stack's
  ends, so a candidate cannot run on past the nodule by more than those slices;
- each crop's intensities are its HU scaled linearly to 0..255 on their own, so the stack is not in HU: the lung
  check of the vote is off (:func:`ssb_core.volume.lung.is_ct_hounsfield`) and every window is z-scored on its own
  as the model's preprocessing does anyway.

This is what lets the whole-scan path's settings be chosen on lidc128's validation split (231 nodules) instead of
on the four lidc3d nodules that score the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssb_core.data.errors import read_npz
from ssb_core.data.lidc128 import REQUIRED_KEYS, validate_arrays

__all__ = ["NoduleStack", "nodule_stacks"]


@dataclass(frozen=True)
class NoduleStack:
    """One nodule as a small scan.

    Attributes:
        nodule_id: ``f"{patient}_n{nodule}"``.
        volume_zyx: (S, 128, 128) float32, the crops' values (0..255, not HU) in slice order.
        spacing_xyz: (pixel, pixel, slice thickness) in mm.
        readers_zyx: (M, S, 128, 128) bool, the masks of the M readers who outlined the nodule (present readers).
        click_ijk: (i, j, k) the readers' centroid on the slice where their union is largest (rounded).
    """

    nodule_id: str
    volume_zyx: np.ndarray
    spacing_xyz: tuple[float, float, float]
    readers_zyx: np.ndarray
    click_ijk: tuple[int, int, int]


def nodule_stacks(path: str | Path, max_nodules: int | None = None) -> list[NoduleStack]:
    """Every nodule of one lidc128 split file (``val.npz``...) as a :class:`NoduleStack`, in file order.

    ``max_nodules``: that many nodules spread evenly over the file (None = all). Nodules no reader outlined on any slice
    are left out."""
    path = Path(path)
    a = read_npz(path, (*REQUIRED_KEYS, "slice_thickness_mm"), "lidc128 npz")
    validate_arrays(path, a)
    patients, nodules, order = a["patient_id"], a["nodule"], a["slice_index"]
    keys = list(dict.fromkeys(zip(patients.tolist(), nodules.tolist())))
    if max_nodules is not None and max_nodules < len(keys):
        keys = [keys[i] for i in np.linspace(0, len(keys) - 1, max_nodules).round().astype(int)]
    stacks = []
    for patient, nodule in keys:
        idx = np.flatnonzero((patients == patient) & (nodules == nodule))
        idx = idx[np.argsort(order[idx], kind="stable")]
        present = a["reader_present"][idx].any(axis=0)
        if not present.any():
            continue
        readers = np.moveaxis(a["masks"][idx][:, present], 0, 1).astype(bool)  # (M, S, 128, 128)
        union = readers.any(axis=0)
        k = int(np.argmax(union.reshape(len(idx), -1).sum(axis=1)))
        j, i = np.argwhere(union[k]).mean(axis=0).round().astype(int)
        pixel, thickness = float(a["pixel_spacing_mm"][idx[0]]), float(a["slice_thickness_mm"][idx[0]])
        stacks.append(NoduleStack(f"{patient}_n{nodule}", a["images"][idx].astype(np.float32), (pixel, pixel, thickness),
                                  readers, (int(i), int(j), k)))
    return stacks
