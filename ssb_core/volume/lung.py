"""Whether a candidate lies against lung: the model knows lung nodules, and a lung nodule borders lung.

The network was trained on LIDC-IDRI nodules (crops around lung nodules). Clicked in the mediastinum, it can
outline the fat between the great vessels as a closed "nodule" (``docs/lidc128.md``): a shape it has seen,
in a place it has never seen. What no lung nodule lacks is lung around it: a juxtapleural nodule borders lung on
its inner side, a solid nodule in the parenchyma all round. So on a CT in Hounsfield units a candidate counts as
a lung lesion only when at least ``min_share`` of a thin shell around it is lung (:func:`lung_contact`).

How the threshold was set (``scripts/lung_contact_readers.py``, ``docs/results/decisions/lung_contact/``): on lidc128 (train and val, 2,044 nodules, 5,265
reader outlines), a 2 mm in-plane shell around each reader's outline, summed over the nodule's slices, is lung
(below the crop's Otsu threshold: lidc128's crops are min-max scaled, absolute HU is not recoverable) for a median
92% of its pixels, 5th percentile 53%; 0.3% of the outlines are below 0.2. On the whole lidc3d CTs (HU, lung below -500 HU), the
candidates of the four nodules are at 0.25-0.98 (the lowest: the 33 mm juxtapleural LIDC-IDRI-0001_n1), those
drawn in mediastinal fat at 0.01-0.14. ``GrowthSettings.min_lung_contact`` = 0.2.

A click in the air outside the body (:func:`outside_body`) is answered "no lesion" before anything is sampled: no
lesion is there, and the candidates drawn around it (the skin, the table) could take the growth a long way before
the vote says so (20-27 s on the 2-core machine for six of eight such clicks on the lidc3d CTs).

Intensities are used only where the scan is a CT in HU (:func:`is_ct_hounsfield`: it holds air, at most -900);
on other images (MR, a CT without its rescale applied) the check is skipped.

Arrays are on a plan's box grid: ``(N, S, ny, nx)`` candidates, ``(S, ny, nx)`` intensities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["AIR_HU", "LUNG_HU", "SHELL_MM", "is_ct_hounsfield", "lung_contact", "outside_body", "shell_share"]

#: a scan whose darkest voxels are at most this is a CT in Hounsfield units (air is -1000 HU)
AIR_HU = -900.0
#: lung parenchyma (about -850 HU, partial-volume rims included) lies below this; soft tissue and fat lie above
LUNG_HU = -500.0
#: the width of the shell around a candidate, in-plane, in mm
SHELL_MM = 2.0


def is_ct_hounsfield(volume_zyx: np.ndarray) -> bool:
    """Whether ``volume_zyx`` (Z, Y, X) holds air in Hounsfield units (a voxel of at most :data:`AIR_HU`), judged on
    every 4th slice and every 8th row and column (a chest CT has air in front of the chest and in the lungs)."""
    sample = np.asarray(volume_zyx)[::4, ::8, ::8]
    return bool(sample.size) and float(sample.min()) <= AIR_HU


def outside_body(volume_zyx: np.ndarray, clicks_ijk: Sequence[Sequence[float]]) -> bool:
    """Whether every click is in the air outside the body of a CT in HU: the click's voxel is air (at most
    :data:`AIR_HU`) and so is a path from it to the edge of its axial slice (4-connected, in plane).

    The lungs and the airways are walled in by the body on an axial slice, so a click in them is never outside;
    only a field of view that cuts through a lung would make its air reach the edge (then a click in that lung's
    air, not on a lesion, is called outside). Air pockets under a blanket or a sheet are not reached from the edge:
    they are left to the candidates' vote. Any image that is not a CT in HU (:func:`is_ct_hounsfield`): False.

    Args:
        volume_zyx: (Z, Y, X) the scan. clicks_ijk: (i, j, k) voxel indices (column, row, slice), rounded.
    """
    volume = np.asarray(volume_zyx)
    if volume.ndim != 3 or not len(clicks_ijk) or not is_ct_hounsfield(volume):
        return False
    for click in clicks_ijk:
        i, j, k = (int(round(float(c))) for c in click)
        if not (0 <= k < volume.shape[0] and 0 <= j < volume.shape[1] and 0 <= i < volume.shape[2]):
            return False
        air = volume[k] <= AIR_HU
        if not air[j, i]:
            return False
        regions, _ = ndimage.label(air)
        edge = np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])
        if regions[j, i] not in edge:
            return False
    return True


def lung_contact(masks: np.ndarray, intensities: np.ndarray, spacing_xy: Sequence[float], inside: np.ndarray | None = None) -> np.ndarray:
    """(N,) float: for each candidate, the share of its shell that is lung (below :data:`LUNG_HU`); NaN for an empty one.

    Args:
        masks: (N, S, ny, nx) bool candidates on S slices.
        intensities: (S, ny, nx) the scan on the same grid, in HU.
        spacing_xy: voxel size (mm) along columns and rows.
        inside: (ny, nx) bool, the box's voxels inside the image (outside ones are never shell); None = all.
    """
    return shell_share(masks, np.asarray(intensities) < LUNG_HU, spacing_xy, inside)


def shell_share(masks: np.ndarray, region: np.ndarray, spacing_xy: Sequence[float], inside: np.ndarray | None = None) -> np.ndarray:
    """(N,) float: for each of ``masks`` (N, S, ny, nx), the share of its shell inside ``region`` (S, ny, nx) bool;
    NaN for an empty mask.

    The shell is, per slice, the voxels within :data:`SHELL_MM` of the mask in-plane (4-neighbour dilation, at least
    one voxel) and not in it, and inside the image (``inside``, (ny, nx) bool; None = everywhere); the share is summed
    over the mask's slices: region voxels / shell voxels.
    """
    masks = np.asarray(masks, dtype=bool)
    steps = max(1, int(round(SHELL_MM / float(min(spacing_xy[0], spacing_xy[1])))))
    structure = np.zeros((1, 3, 3), dtype=bool)
    structure[0] = ndimage.generate_binary_structure(2, 1)
    region = np.asarray(region, dtype=bool)
    valid = np.ones(masks.shape[-2:], dtype=bool) if inside is None else np.asarray(inside, dtype=bool)
    out = np.full(masks.shape[0], np.nan)
    for n, mask in enumerate(masks):
        if not mask.any():
            continue
        # only the mask's in-plane bounding box, widened by the shell, takes part (the same result, much faster)
        rows, cols = np.flatnonzero(mask.any(axis=(0, 2))), np.flatnonzero(mask.any(axis=(0, 1)))
        r0, r1 = max(0, rows[0] - steps), min(mask.shape[1], rows[-1] + steps + 1)
        c0, c1 = max(0, cols[0] - steps), min(mask.shape[2], cols[-1] + steps + 1)
        part = mask[:, r0:r1, c0:c1]
        shell = ndimage.binary_dilation(part, structure, iterations=steps) & ~part & valid[r0:r1, c0:c1]
        total = int(shell.sum())
        out[n] = float((shell & region[:, r0:r1, c0:c1]).sum()) / total if total else 0.0
    return out
