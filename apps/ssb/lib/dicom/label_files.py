"""The app's result files read as masks for a DICOM SEG: ``(S, Z, Y, X)`` masks, one :class:`Segment` each.

- a 3D Slicer ``.seg.nrrd`` (:func:`lib.imageio.write_seg_nrrd`: first axis ``list``, one binary channel per
  segment): one segment per channel, names and colours from its ``Segment{i}_Name`` / ``_Color`` fields;
- a labelmap (NRRD, NIfTI, MHA): one segment per label value present, named by ``label_info[i]["name"]``
  when the client sent it (MONAI Label's convention: one entry per label value, in increasing order), else
  by the app's own label names (:data:`ssb_core.volume.AGREEMENT_LABELS`), else ``label <value>``.

The returned reference image carries the file's grid (origin, spacing, direction; LPS like SimpleITK).
"""

from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np
import SimpleITK as sitk

from ssb_core.volume import AGREEMENT_LABELS

from lib.dicom.seg_write import Segment

__all__ = ["read_label_file"]

_NAMES = {v: k for k, v in AGREEMENT_LABELS.items()}
_COLORS = {1: (0.2, 0.6, 0.9), 2: (0.95, 0.75, 0.1), 3: (0.9, 0.3, 0.2), 4: (0.3, 0.8, 0.3)}


def _seg_nrrd(path: str) -> tuple[np.ndarray, list[Segment], sitk.Image]:
    data, header = nrrd.read(path)  # (C, X, Y, Z)
    if data.ndim != 4 or header.get("kinds", [""])[0] != "list":
        raise ValueError(f"expected a 4D .seg.nrrd with a 'list' first axis, got shape {data.shape} in {path}")
    masks = np.ascontiguousarray(data.transpose(0, 3, 2, 1)) > 0
    segments = []
    for i in range(data.shape[0]):
        color = header.get(f"Segment{i}_Color")
        segments.append(Segment(label=header.get(f"Segment{i}_Name", f"segment {i}"),
                                color=tuple(float(v) for v in color.split()) if color else None))
    axes = np.asarray(header["space directions"], dtype=float)[1:]  # one row per spatial axis (LPS)
    spacing = np.linalg.norm(axes, axis=1)
    ref = sitk.Image([int(n) for n in data.shape[1:]], sitk.sitkUInt8)
    ref.SetSpacing(spacing.tolist())
    ref.SetOrigin(np.asarray(header["space origin"], dtype=float).tolist())
    ref.SetDirection((axes / spacing[:, None]).T.ravel().tolist())
    return masks, segments, ref


def _labelmap(path: str, label_info: list | None) -> tuple[np.ndarray, list[Segment], sitk.Image]:
    img = sitk.ReadImage(path)
    arr = sitk.GetArrayFromImage(img)
    if arr.ndim == 2:
        arr = arr[None]
    values = [int(v) for v in np.unique(arr) if v != 0]
    info = [i for i in (label_info or []) if isinstance(i, dict)]
    segments = []
    for n, v in enumerate(values):
        given = info[n] if n < len(info) else {}
        color = given.get("color")
        segments.append(Segment(
            label=str(given.get("name") or _NAMES.get(v, f"label {v}")),
            description=str(given.get("description", "")),
            color=tuple(c / 255 for c in color[:3]) if color else _COLORS.get(v),
        ))
    masks = np.stack([arr == v for v in values]) if values else np.zeros((1, *arr.shape), bool)
    if not values:
        segments = [Segment(label="empty")]
    return masks, segments, img


def read_label_file(path: str | Path, label_info: list | None = None) -> tuple[np.ndarray, list[Segment], sitk.Image]:
    """``(masks (S, Z, Y, X) bool, segments, reference image)`` of a result file (see the module docstring)."""
    path = str(path)
    if path.endswith(".seg.nrrd"):
        return _seg_nrrd(path)
    return _labelmap(path, label_info)
