"""Reading images and writing results with EXACTLY the input's geometry (SimpleITK, pynrrd).

Arrays are in numpy order ``(Z, Y, X)``: axis 0 is the slice axis (the image's third index k), axis 1 the
row (j), axis 2 the column (i). Clicks and boxes from the viewers are ITK indices ``(i, j, k)``. A 2D image
is handled as one slice (``Z = 1``) and written back as 2D.

Every output is written from an array on the input's voxel grid with the input's spacing, origin and direction
copied (``CopyInformation``); nothing is resampled on the way out.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import nrrd
import numpy as np
import SimpleITK as sitk

from lib.safety.filecheck import IncompleteFileError, check_complete

__all__ = ["MIN_IN_PLANE", "ImageReadError", "LoadedImage", "read_image", "read_labelmap_like", "read_mask_like", "temp_path", "write_like", "write_seg_nrrd",
           "write_labelmap_seg_nrrd", "image_identity"]

logger = logging.getLogger(__name__)

MIN_IN_PLANE = 4  # fewest voxels along i and along j of an image the app segments


class ImageReadError(ValueError):
    """The file or DICOM folder cannot be read as an image."""


@dataclass
class LoadedImage:
    """An image as the app uses it.

    Attributes:
        array: (Z, Y, X) float32 intensities (grey stored as RGB is averaged; colour pictures are refused); Z = 1 for 2D.
        reference: the SimpleITK image (2D or 3D) whose geometry every output copies.
        spacing_xyz: voxel size in mm along i, j, k (k = 1.0 for 2D images).
    """

    array: np.ndarray
    reference: sitk.Image
    spacing_xyz: tuple[float, float, float]

    @property
    def is_2d(self) -> bool:
        return self.reference.GetDimension() == 2

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        z, y, x = self.array.shape
        return x, y, z

    @property
    def voxel_volume(self) -> float:
        """mm^3 per voxel (mm^2 per pixel for a 2D image)."""
        sx, sy, sz = self.spacing_xyz
        return sx * sy * (1.0 if self.is_2d else sz)


def _read_sitk(path: str) -> sitk.Image:
    if os.path.isdir(path):
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(path)
        if not series:
            raise ImageReadError(f"{path} is a folder without a DICOM series")
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(path, series[0]))
        return reader.Execute()
    return sitk.ReadImage(path)


_RECENT: OrderedDict[tuple, LoadedImage] = OrderedDict()
_RECENT_LOCK = threading.Lock()
RECENT_IMAGES = 2  # a reader clicks several lesions of the same scan: decompressing a whole CT costs ~1 s


def image_identity(path: str | Path) -> tuple | None:
    """What identifies one version of an image file: real path, modification time, size, inode (None for a folder
    or a missing path: a DICOM series folder is read every time)."""
    path = str(path)
    if not path or not os.path.isfile(path):
        return None
    st = os.stat(path)
    return os.path.realpath(path), st.st_mtime_ns, st.st_size, st.st_ino


def read_image(path: str | Path) -> LoadedImage:
    """A NIfTI / NRRD / PNG / JPEG file, a single DICOM file or a DICOM series folder.

    The last ``RECENT_IMAGES`` files read are kept (keyed by path, modification time, size and inode, so a
    changed file is read again); callers must not modify the returned array.

    Raises:
        ImageReadError: missing, empty, truncated, unreadable, 4D, smaller than ``MIN_IN_PLANE`` voxels
            along i or j, or holding NaN / Inf.
    """
    path = str(path)
    if not path or not os.path.exists(path):
        raise ImageReadError(f"image not found: {path!r}")
    key = image_identity(path)
    with _RECENT_LOCK:
        if key is not None and key in _RECENT:
            _RECENT.move_to_end(key)
            return _RECENT[key]
    image = _read_image(path)
    if key is not None:
        image.array.setflags(write=False)
        with _RECENT_LOCK:
            _RECENT[key] = image
            while len(_RECENT) > RECENT_IMAGES:
                _RECENT.popitem(last=False)
    return image


def _read_image(path: str) -> LoadedImage:
    try:
        check_complete(path)
        img = _read_sitk(path)
    except IncompleteFileError as exc:
        raise ImageReadError(str(exc)) from exc
    except RuntimeError as exc:
        raise ImageReadError(f"cannot read {os.path.basename(path)} as an image: {str(exc).strip().splitlines()[-1]}") from exc
    if img.GetNumberOfComponentsPerPixel() > 1:  # grey stored as RGB(A): the mean of its channels, same geometry
        comps = [sitk.VectorIndexSelectionCast(img, c, sitk.sitkFloat32) for c in range(min(3, img.GetNumberOfComponentsPerPixel()))]
        _refuse_colour(path, np.stack([sitk.GetArrayViewFromImage(c) for c in comps]))
        grey = sum(comps[1:], comps[0]) / float(len(comps))
        grey.CopyInformation(img)
        img = grey
    dim = img.GetDimension()
    if dim == 3 and img.GetSize()[2] == 1 and path.lower().endswith((".png", ".jpg", ".jpeg")):
        img = img[:, :, 0]
        dim = 2
    if dim not in (2, 3):
        raise ImageReadError(f"expected a 2D or 3D image, got {dim}D {img.GetSize()}")
    if min(img.GetSize()[:2]) < MIN_IN_PLANE:
        raise ImageReadError(f"expected at least {MIN_IN_PLANE} voxels along i and j, got an image of size {img.GetSize()}")
    arr = sitk.GetArrayFromImage(img).astype(np.float32)
    arr = arr[None] if dim == 2 else arr
    if arr.size == 0 or not np.isfinite(arr).all():
        raise ImageReadError(f"{os.path.basename(path)} is empty or holds NaN/Inf values")
    sp = img.GetSpacing()
    spacing = (float(sp[0]), float(sp[1]), float(sp[2]) if dim == 3 else 1.0)
    return LoadedImage(arr, img, spacing)


COLOUR_SPREAD = 10.0  # channel spread (on a 0..255 scale) above which a pixel is coloured, not grey + JPEG noise
COLOUR_SHARE = 0.005  # share of coloured pixels above which an image is a colour picture


def _refuse_colour(path: str, channels: np.ndarray) -> None:
    """Raise :class:`ImageReadError` for a colour picture (a photo): the model segments greyscale scans.

    ``channels``: (C, ...) the colour channels. A grey image saved as RGB (equal channels, or JPEG noise between
    them) passes.
    """
    lo, hi = float(channels.min()), float(channels.max())
    spread = (channels.max(axis=0) - channels.min(axis=0)) * (255.0 / max(hi - lo, 1e-6))
    share = float((spread > COLOUR_SPREAD).mean())
    if share > COLOUR_SHARE:
        raise ImageReadError(f"{os.path.basename(path)} is a colour image ({100 * share:.1f}% of its pixels are coloured): "
                             "the model segments greyscale scans (CT); send the scan itself, or a greyscale image")


def read_mask_like(path: str | Path, image: LoadedImage) -> np.ndarray:
    """A label file as a (Z, Y, X) bool mask on ``image``'s grid (any value > 0 is lesion).

    Multi-component files (a 4D ``.seg.nrrd``) are united; a label stored on another grid (a cropped
    segmentation) is resampled onto the image with nearest-neighbour interpolation.
    """
    lab = sitk.ReadImage(str(path))
    if lab.GetNumberOfComponentsPerPixel() > 1:
        comps = [sitk.VectorIndexSelectionCast(lab, c, sitk.sitkUInt8) > 0 for c in range(lab.GetNumberOfComponentsPerPixel())]
        union = comps[0]
        for c in comps[1:]:
            union = union | c
        union.CopyInformation(lab)
        lab = union
    ref = image.reference
    if lab.GetDimension() == 3 and ref.GetDimension() == 2 and lab.GetSize()[2] == 1:
        lab = lab[:, :, 0]
    same = lab.GetDimension() == ref.GetDimension() and lab.GetSize() == ref.GetSize() and np.allclose(
        lab.GetSpacing(), ref.GetSpacing(), atol=1e-4) and np.allclose(lab.GetOrigin(), ref.GetOrigin(), atol=1e-3) and np.allclose(
        lab.GetDirection(), ref.GetDirection(), atol=1e-4)
    if not same:
        if lab.GetDimension() != ref.GetDimension():
            raise ImageReadError(f"label is {lab.GetDimension()}D but the image is {ref.GetDimension()}D")
        lab = sitk.Resample(sitk.Cast(lab, sitk.sitkUInt8), ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    arr = sitk.GetArrayFromImage(lab)
    arr = arr[None] if ref.GetDimension() == 2 else arr
    return arr > 0


def read_labelmap_like(path: str | Path, image: LoadedImage) -> np.ndarray:
    """A stored reader label as a (Z, Y, X) uint8 labelmap on ``image``'s grid, its values kept (value = lesion id,
    :mod:`lib.labels.lesion_map`); a file on another grid or with several components is read as one lesion
    (:func:`read_mask_like`)."""
    lab = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(lab) if lab.GetNumberOfComponentsPerPixel() == 1 else None
    if arr is not None and arr.ndim == 2:
        arr = arr[None]
    if arr is None or arr.shape != image.array.shape or arr.dtype.kind not in "biu":
        return read_mask_like(path, image).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


def temp_path(suffix: str, prefix: str = "ssb_") -> str:
    """A new empty temporary file's path (the caller removes it, or hands it to MONAI Label, which does)."""
    import tempfile

    fd, path = tempfile.mkstemp(suffix=suffix, prefix=prefix)
    os.close(fd)
    return path


def write_like(array_zyx: np.ndarray, image: LoadedImage, path: str | Path, dtype: type = np.uint8) -> Path:
    """Write a (Z, Y, X) array with the geometry of ``image`` (same size, spacing, origin, direction)."""
    arr = np.asarray(array_zyx).astype(dtype, copy=False)
    if arr.shape != image.array.shape:
        raise ValueError(f"array shape {arr.shape} differs from the image's {image.array.shape}")
    out = sitk.GetImageFromArray(arr[0] if image.is_2d else arr)
    out.CopyInformation(image.reference)
    sitk.WriteImage(out, str(path), useCompression=True)
    return Path(path)


def _lps_geometry(ref: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(3, 3) space directions (row i = the direction of axis i times its spacing) and (3,) origin, LPS."""
    dim = ref.GetDimension()
    direction = np.array(ref.GetDirection(), dtype=np.float64).reshape(dim, dim)
    spacing = np.array(ref.GetSpacing(), dtype=np.float64)
    origin = np.array(ref.GetOrigin(), dtype=np.float64)
    if dim == 2:
        direction = np.block([[direction, np.zeros((2, 1))], [np.zeros((1, 2)), np.ones((1, 1))]])
        spacing, origin = np.append(spacing, 1.0), np.append(origin, 0.0)
    return (direction * spacing[None, :]).T, origin


def write_seg_nrrd(channels: np.ndarray, names: list[str], colors: list[tuple[float, float, float]], image: LoadedImage,
                   path: str | Path) -> Path:
    """A 3D Slicer ``.seg.nrrd``: one overlapping binary segment per channel, on the image's grid.

    Args:
        channels: (C, Z, Y, X) binary masks. names / colors: one per channel (RGB in [0, 1]).

    The layout is the one MONAI Label's writer uses for a multi-channel prediction (first axis ``list``,
    then the three spatial axes), with Slicer's per-segment fields (``Segment{i}_Layer`` = i,
    ``_LabelValue`` = 1, ``_Extent``), and the space directions taken column-wise from the image's direction
    matrix, so an oblique or flipped image keeps its geometry.
    """
    c, z, y, x = channels.shape
    if len(names) != c or len(colors) != c:
        raise ValueError(f"expected {c} names and colours, got {len(names)} and {len(colors)}")
    # the file's axis order is (C, X, Y, Z) with C fastest: exactly the C-order bytes of (Z, Y, X, C), written as they
    # are (index_order "C"); a Fortran-order write of a (C, X, Y, Z) view costs two full transposes (~7 s on a whole CT)
    data = np.ascontiguousarray(channels.astype(np.uint8, copy=False).transpose(1, 2, 3, 0))
    directions, origin = _lps_geometry(image.reference)
    header: dict = {
        "type": "unsigned char",
        "dimension": 4,
        "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"],
        "space directions": np.vstack([np.full((1, 3), np.nan), directions]),
        "space origin": origin,
        "encoding": "gzip",
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
    }
    for i, (name, color) in enumerate(zip(names, colors, strict=True)):
        header.update({
            f"Segment{i}_ID": f"segment_{i}",
            f"Segment{i}_Name": name,
            f"Segment{i}_NameAutoGenerated": "0",
            f"Segment{i}_Color": " ".join(f"{v:.4f}" for v in color),
            f"Segment{i}_ColorAutoGenerated": "0",
            f"Segment{i}_Layer": str(i),
            f"Segment{i}_LabelValue": "1",
            f"Segment{i}_Extent": f"0 {x - 1} 0 {y - 1} 0 {z - 1}",
            f"Segment{i}_Tags": "|",
        })
    nrrd.write(str(path), data, header=header, index_order="C")
    return Path(path)


def write_labelmap_seg_nrrd(labelmap_zyx: np.ndarray, segments: list[tuple[str, int, tuple[float, float, float]]],
                            image: LoadedImage, path: str | Path) -> Path:
    """A one-layer 3D Slicer ``.seg.nrrd``: a (Z, Y, X) uint8 labelmap whose values are named, coloured segments.

    ``segments``: (name, label value, RGB colour in [0, 1]) per value. The file is a plain 3D NRRD on the image's
    grid (any NRRD reader sees the labelmap); 3D Slicer reads the ``Segment{i}_*`` fields (all on layer 0, each with
    its ``LabelValue``) and shows one segment per value in its own colour, i.e. the labelmap with a colour table.
    """
    arr = np.asarray(labelmap_zyx, dtype=np.uint8)
    if arr.shape != image.array.shape:
        raise ValueError(f"labelmap shape {arr.shape} differs from the image's {image.array.shape}")
    z, y, x = arr.shape
    directions, origin = _lps_geometry(image.reference)
    header: dict = {
        "type": "unsigned char", "dimension": 3, "space": "left-posterior-superior",
        "kinds": ["domain", "domain", "domain"], "space directions": directions, "space origin": origin,
        "encoding": "gzip", "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|", "Segmentation_ReferenceImageExtentOffset": "0 0 0",
    }
    for i, (name, value, color) in enumerate(segments):
        header.update({
            f"Segment{i}_ID": f"segment_{i}", f"Segment{i}_Name": name, f"Segment{i}_NameAutoGenerated": "0",
            f"Segment{i}_Color": " ".join(f"{v:.4f}" for v in color), f"Segment{i}_ColorAutoGenerated": "0",
            f"Segment{i}_Layer": "0", f"Segment{i}_LabelValue": str(int(value)),
            f"Segment{i}_Extent": f"0 {x - 1} 0 {y - 1} 0 {z - 1}", f"Segment{i}_Tags": "|",
        })
    nrrd.write(str(path), np.ascontiguousarray(arr), header=header, index_order="C")  # (Z, Y, X) C order = file (X, Y, Z)
    return Path(path)
