"""The app's result files read as masks for a DICOM SEG: ``(S, Z, Y, X)`` masks, one :class:`Segment` each.

- a 3D Slicer ``.seg.nrrd`` (:func:`lib.imageio.write_seg_nrrd`: first axis ``list``, one binary channel per
  segment): one segment per channel, names and colours from its ``Segment{i}_Name`` / ``_Color`` fields; in one
  labelmap layer (:func:`lib.imageio.write_labelmap_seg_nrrd`, the variability levels): one segment per
  ``Segment{i}_LabelValue`` present;
- a labelmap (NRRD, NIfTI, MHA): one segment per label value present, named by ``label_info[i]["name"]``
  when the client sent it (MONAI Label's convention: one entry per label value, in increasing order), else
  by what the infer task said they mean (``known``: variability levels, a chosen candidate), else by the app's
  own label names (:data:`ssb_core.volume.AGREEMENT_LABELS`), else ``label <value>``.

The returned reference image carries the file's grid (origin, spacing, direction; LPS like SimpleITK).
"""

from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np
import SimpleITK as sitk

from ssb_core.volume import AGREEMENT_LABELS

from lib.dicom.seg_write import Segment
from lib.result_labels import LabelMeaning

__all__ = ["read_label_file"]

_NAMES = {v: k for k, v in AGREEMENT_LABELS.items()}
_COLORS = {1: (0.2, 0.6, 0.9), 2: (0.95, 0.75, 0.1), 3: (0.9, 0.3, 0.2), 4: (0.3, 0.8, 0.3)}


def _seg_nrrd(path: str) -> tuple[np.ndarray, list[Segment], sitk.Image]:
    data, header = nrrd.read(path)  # (C, X, Y, Z) layered, or (X, Y, Z) one labelmap layer
    if data.ndim == 3 and "Segment0_LabelValue" in header:
        return _one_layer(data, header)
    if data.ndim != 4 or header.get("kinds", [""])[0] != "list":
        raise ValueError(f"expected a .seg.nrrd with a 'list' first axis or one labelmap layer, got shape {data.shape} in {path}")
    masks = np.ascontiguousarray(data.transpose(0, 3, 2, 1)) > 0
    segments = [_segment(header, i) for i in range(data.shape[0])]
    return masks, segments, _reference(header, data.shape[1:], np.asarray(header["space directions"], dtype=float)[1:])


def _one_layer(data: np.ndarray, header: dict) -> tuple[np.ndarray, list[Segment], sitk.Image]:
    """A one-layer ``.seg.nrrd`` (:func:`lib.imageio.write_labelmap_seg_nrrd`): one segment per value present."""
    arr = np.ascontiguousarray(data.transpose(2, 1, 0))  # (Z, Y, X)
    listed: list[tuple[int, int]] = []  # (segment index, label value)
    while f"Segment{len(listed)}_LabelValue" in header:
        listed.append((len(listed), int(header[f"Segment{len(listed)}_LabelValue"])))
    present = [(i, v) for i, v in listed if (arr == v).any()]
    masks = np.stack([arr == v for _, v in present]) if present else np.zeros((1, *arr.shape), bool)
    segments = [_segment(header, i) for i, _ in present] or [Segment(label="empty")]
    return masks, segments, _reference(header, data.shape, np.asarray(header["space directions"], dtype=float))


def _segment(header: dict, i: int) -> Segment:
    color = header.get(f"Segment{i}_Color")
    return Segment(label=header.get(f"Segment{i}_Name", f"segment {i}"), color=tuple(float(v) for v in color.split()) if color else None)


def _reference(header: dict, size_xyz: tuple[int, ...], axes: np.ndarray) -> sitk.Image:
    """An empty image on the file's grid: ``axes`` one row per spatial axis (LPS, mm per voxel)."""
    spacing = np.linalg.norm(axes, axis=1)
    ref = sitk.Image([int(n) for n in size_xyz], sitk.sitkUInt8)
    ref.SetSpacing(spacing.tolist())
    ref.SetOrigin(np.asarray(header["space origin"], dtype=float).tolist())
    ref.SetDirection((axes / spacing[:, None]).T.ravel().tolist())
    return ref


def _labelmap(path: str, label_info: list | None, known: LabelMeaning | None) -> tuple[np.ndarray, list[Segment], sitk.Image]:
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
        own_name, own_color = (known or {}).get(v, (_NAMES.get(v, f"label {v}"), _COLORS.get(v)))
        segments.append(Segment(
            label=str(given.get("name") or own_name),
            description=str(given.get("description", "")),
            color=tuple(c / 255 for c in color[:3]) if color else own_color,
        ))
    masks = np.stack([arr == v for v in values]) if values else np.zeros((1, *arr.shape), bool)
    if not values:
        segments = [Segment(label="empty")]
    return masks, segments, img


def read_label_file(path: str | Path, label_info: list | None = None,
                    known: LabelMeaning | None = None) -> tuple[np.ndarray, list[Segment], sitk.Image]:
    """``(masks (S, Z, Y, X) bool, segments, reference image)`` of a result file (see the module docstring).

    ``known``: what the infer task said the labelmap's values mean (:mod:`lib.result_labels`); a client's
    ``label_info`` still names them first.
    """
    path = str(path)
    if path.endswith(".seg.nrrd"):
        return _seg_nrrd(path)
    return _labelmap(path, label_info, known)
