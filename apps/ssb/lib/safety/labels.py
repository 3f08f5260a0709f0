"""A reader's label upload, read as lesions on exactly the voxel grid of its image.

The app trains on reader labels voxel for voxel against their image, so a label must have the image's size,
spacing, origin and direction (tolerances: 1e-4 mm spacing, 1e-3 mm origin, 1e-4 direction cosines); a 3D
label of one slice is accepted for a 2D image (Slicer saves 2D images so). Nothing is resampled: a label on
another grid is refused with both geometries in the message.

Every format MONAI Label accepts for ``PUT /datastore/label`` is read (:func:`read_lesion_upload`):

- an integer labelmap (NIfTI, NRRD, MHA, ...): one lesion per non-zero value (1 for a drawn mask, 4 for a candidate
  the app returned with ``candidate=k``, 1..K for a reader's several lesions); values that touch each other are
  refused (:func:`lib.labels.lesion_map.lesions_of_labelmap`: an agreement map is not a label);
- a 3D Slicer ``.seg.nrrd`` (several layers or one): one lesion per segment that holds voxels;
- OHIF's raw ``.bin`` upload: converted on the image's grid by MONAI Label, then as a labelmap.

An empty label is refused: saving nothing never erases a reader's lesion.
"""

from __future__ import annotations

import os

import numpy as np
import SimpleITK as sitk

from lib.labels.lesion_map import LesionRefused, lesions_of_labelmap
from lib.safety.filecheck import IncompleteFileError, check_complete

__all__ = ["LabelError", "read_lesion_upload"]


class LabelError(ValueError):
    """A label file that is unreadable, empty, not a labelmap, or not on its image's voxel grid."""


def _geometry(img: sitk.Image | sitk.ImageFileReader) -> tuple:
    return tuple(img.GetSize()), tuple(img.GetSpacing()), tuple(img.GetOrigin()), tuple(img.GetDirection())


def _same_grid(lab: tuple, ref: tuple) -> bool:
    (ls, lsp, lo, ld), (rs, rsp, ro, rd) = lab, ref
    if len(ls) == 3 and len(rs) == 2 and ls[2] == 1:  # a one-slice 3D label of a 2D image
        ls, lsp, lo = ls[:2], lsp[:2], lo[:2]
        ld = (ld[0], ld[1], ld[3], ld[4])
    return (ls == rs and np.allclose(lsp, rsp, atol=1e-4) and np.allclose(lo, ro, atol=1e-3)
            and np.allclose(ld, rd, atol=1e-4))


def _describe(g: tuple) -> str:
    size, spacing, origin, direction = g
    return (f"size {list(size)}, spacing {[round(s, 4) for s in spacing]}, origin {[round(o, 3) for o in origin]}, "
            f"direction {[round(d, 4) for d in direction]}")


def _check_grid(label: sitk.Image, image_path: str) -> None:
    info = sitk.ImageFileReader()
    info.SetFileName(os.fspath(image_path))
    info.ReadImageInformation()
    lab_g, ref_g = _geometry(label), _geometry(info)
    if not _same_grid(lab_g, ref_g):
        raise LabelError(f"the label must be on the image's voxel grid ({_describe(ref_g)}), got {_describe(lab_g)}")


def _zyx(arr: np.ndarray) -> np.ndarray:
    return arr[None] if arr.ndim == 2 else arr


def _seg_nrrd_lesions(path: str, image_path: str) -> list[np.ndarray]:
    from lib.dicom.label_files import read_label_file

    try:
        masks, _, reference = read_label_file(path)
    except (ValueError, KeyError, OSError) as exc:
        raise LabelError(f"cannot read the segmentation {os.path.basename(path)}: {exc}") from None
    _check_grid(reference, image_path)
    lesions = [m for m in masks if m.any()]
    if not lesions:
        raise LesionRefused("the segmentation is empty (no segment holds a voxel): nothing was saved. Saving an empty "
                            "mask would erase your lesion; to remove a saved lesion, remove it explicitly")
    for a in range(len(lesions)):
        for b in range(a + 1, len(lesions)):
            if (lesions[a] & lesions[b]).any():
                raise LabelError("two segments of the file overlap: each segment is saved as one lesion, and a reader's "
                                 "lesions do not overlap; submit the one segment you mean")
    return lesions


def read_lesion_upload(label_path: str | os.PathLike, image_path: str | os.PathLike) -> list[np.ndarray]:
    """The lesions of an uploaded label, each a (Z, Y, X) bool mask on the image's grid (module docstring).

    Raises:
        LabelError: unreadable, not an integer labelmap, not on the image's grid, overlapping segments.
        LesionRefused: empty, or label values that touch each other.
    """
    path, image_path = os.fspath(label_path), os.fspath(image_path)
    name = os.path.basename(path)
    converted = ""
    try:
        if path.endswith(".bin"):  # OHIF's raw labelmap bytes, as MONAI Label converts them
            from monailabel.datastore.utils.convert import binary_to_image

            path = converted = binary_to_image(image_path, path)  # MONAI's LoadImage reads a file or a series folder
        check_complete(path)
        if path.endswith(".seg.nrrd"):
            try:
                return _seg_nrrd_lesions(path, image_path)
            finally:
                if converted:
                    os.unlink(converted)
        lab = sitk.ReadImage(path)
    except IncompleteFileError as exc:
        raise LabelError(f"cannot read the label {name}: {exc}") from None
    except RuntimeError as exc:
        raise LabelError(f"cannot read the label {name}: {str(exc).strip().splitlines()[-1]}") from None
    try:
        if lab.GetNumberOfComponentsPerPixel() > 1:
            raise LabelError(f"the label {name} has {lab.GetNumberOfComponentsPerPixel()} components per voxel: expected a "
                             "labelmap (one integer per voxel) or a .seg.nrrd")
        _check_grid(lab, image_path)
        arr = sitk.GetArrayFromImage(lab)
        if arr.dtype.kind not in "biu":
            raise LabelError(f"the label must be an integer labelmap (0 = background, 1 = lesion), got {arr.dtype} voxels")
        if arr.size and arr.min() < 0:
            raise LabelError("the label must be a labelmap of values >= 0 (0 = background), got negative values")
        return lesions_of_labelmap(_zyx(arr))
    finally:
        if converted and os.path.exists(converted):
            os.unlink(converted)
