"""Training samples from a whole scan and its readers' 3D masks, prepared exactly as a click is at inference.

The ROI is the one a reader would get by drawing a box around the union of the readers' masks: centred on it,
at the model's physical scale (:func:`ssb_core.volume.plan_roi` with ``roi``), over the slices the masks touch
(at most ``max_slices``, around the centre); the image centre when every reader left the scan empty. Each ROI
slice becomes one sample dict in the :mod:`ssb_core.data` convention that :func:`ssb_core.training.fine_tune`
takes:

- ``image`` (1, H, W) float32, normalised by the model's :class:`~ssb_core.preprocessing.Preprocessing`;
- ``masks`` (R, H, W) uint8, slot i = reader ``readers[i]`` (the mask resampled like the image, then thresholded
  at 1/2); ``reader_present`` (R,) bool;
- ``case_id`` ``<scan id>:k<slice>``; ``patient_id`` the scan id (scans are the unit of a validation split).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ssb_core.preprocessing import Preprocessing
from ssb_core.volume.roi import plan_roi

__all__ = ["union_box", "scan_training_samples"]


def union_box(union_zyx: np.ndarray) -> list[list[int]] | None:
    """``[[i0, i1], [j0, j1], [k0, k1]]`` (inclusive voxel indices) around a (Z, Y, X) mask; None when it is empty."""
    if not union_zyx.any():
        return None
    zs, ys, xs = np.nonzero(union_zyx)
    return [[int(xs.min()), int(xs.max())], [int(ys.min()), int(ys.max())], [int(zs.min()), int(zs.max())]]


def scan_training_samples(scan_id: str, volume_zyx: np.ndarray, spacing_xyz: Sequence[float],
                          masks: Mapping[str, np.ndarray], readers: Sequence[str], preprocessing: Preprocessing,
                          max_slices: int = 64) -> list[dict]:
    """The samples of one scan (see the module docstring).

    Args:
        volume_zyx: (Z, Y, X) intensities as stored (the preprocessing normalises them).
        masks: ``reader -> (Z, Y, X) bool`` on the scan's grid; every reader must be in ``readers``.
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
    box = union_box(np.any(np.stack(list(masks.values())), axis=0)) if masks else None
    click = plan_roi(volume_zyx.shape, spacing_xyz, preprocessing, roi=box)
    k_lo, k_hi = click.k_range
    centre = int(round(click.box.centre_ijk[2]))
    k_lo = max(k_lo, min(centre - max_slices // 2, k_hi - max_slices + 1))
    plan = click.box.with_slices(range(k_lo, min(k_hi, k_lo + max_slices - 1) + 1))
    where = (plan.slices, plan.y0, plan.x0, plan.ny, plan.nx)
    x = preprocessing.model_input(volume_zyx, *where)[:, 0].numpy()
    slots = np.zeros((x.shape[0], len(readers), *preprocessing.roi_size), dtype=np.uint8)
    present = np.zeros(len(readers), dtype=bool)
    for r, m in masks.items():
        slot = readers.index(r)
        slots[:, slot] = (preprocessing.resample_boxes(m.astype(np.float32), *where)[:, 0].numpy() > 0.5).astype(np.uint8)
        present[slot] = True
    return [
        {"image": x[b][None].astype(np.float32), "masks": slots[b], "reader_present": present.copy(),
         "case_id": f"{scan_id}:k{k}", "patient_id": scan_id}
        for b, k in enumerate(plan.slices)
    ]
