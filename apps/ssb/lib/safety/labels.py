"""A reader's label upload: a complete binary mask on exactly the voxel grid of its image.

The app trains on reader labels voxel for voxel against their image, so a label must have the image's size,
spacing, origin and direction (tolerances: 1e-4 mm spacing, 1e-3 mm origin, 1e-4 direction cosines); a 3D
label of one slice is accepted for a 2D image (Slicer saves 2D images so). It must be an integer labelmap
with background 0 and at most ONE lesion value: 1, or 4 when a reader accepts candidate k (``candidate=k``
returns it as label 4). A map of several values (the agreement map 1/2/3 submitted as it is) is refused rather
than silently merged, and so is any other value (a 0/255 image mask: the README promises the refusal, and a
lesion value the viewers never write says the file is not the label the reader meant to send). A
multi-segment ``.seg.nrrd`` follows the same rule in every segment. Nothing is resampled: a label on another
grid is refused with both geometries in the message.
"""

from __future__ import annotations

import os

import numpy as np
import SimpleITK as sitk

from lib.safety.filecheck import IncompleteFileError, check_complete

__all__ = ["LESION_VALUES", "LabelError", "check_label"]

LESION_VALUES = (1, 4)  # 1: a reader's mask; 4: an accepted candidate as the app returns it


class LabelError(ValueError):
    """A label file that is unreadable, not binary, or not on its image's voxel grid."""


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
    size, spacing, origin, _ = g
    return f"size {list(size)}, spacing {[round(s, 4) for s in spacing]}, origin {[round(o, 3) for o in origin]}"


def check_label(label_path: str | os.PathLike, image_path: str | os.PathLike) -> None:
    """Raise :class:`LabelError` unless ``label_path`` is a binary mask on ``image_path``'s grid."""
    name = os.path.basename(os.fspath(label_path))
    try:
        check_complete(label_path)
        lab = sitk.ReadImage(os.fspath(label_path))
    except (IncompleteFileError, RuntimeError) as exc:
        raise LabelError(f"cannot read the label {name}: {str(exc).strip().splitlines()[-1]}") from None
    info = sitk.ImageFileReader()
    info.SetFileName(os.fspath(image_path))
    info.ReadImageInformation()
    lab_g, ref_g = _geometry(lab), _geometry(info)
    if not _same_grid(lab_g, ref_g):
        raise LabelError(f"the label must be on the image's voxel grid ({_describe(ref_g)}, direction "
                         f"{[round(d, 4) for d in ref_g[3]]}), got {_describe(lab_g)}, direction {[round(d, 4) for d in lab_g[3]]}")
    arr = sitk.GetArrayViewFromImage(lab)
    if arr.dtype.kind not in "biu":
        raise LabelError(f"the label must be an integer labelmap (0 = background, 1 = lesion), got {arr.dtype} voxels")
    values = np.unique(arr)
    shown = ", ".join(f"{v:g}" for v in values[:8]) + (" ..." if len(values) > 8 else "")
    if values.min() < 0 or np.count_nonzero(values) > 1:
        raise LabelError(f"the label must be a binary mask (0 = background, one lesion value such as 1), got the values {shown}")
    lesion = [int(v) for v in values if v != 0]
    if lesion and lesion[0] not in LESION_VALUES:
        raise LabelError(f"the lesion value must be 1 (or 4 for an accepted candidate), got the values {shown}: "
                         "save the mask as 0/1")
