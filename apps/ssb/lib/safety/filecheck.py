"""Refuse truncated, empty or non-finite image files before an image reader sees them.

ITK reads a gzip stream that ends early (an interrupted upload) without an error and fills the missing voxels
with zeros; a NIfTI file shorter than its header says is read the same way. :func:`check_complete` reads such
files to their end first:

- ``.nii.gz`` / ``.gz``: the gzip stream must end with its end-of-stream marker; ``.nii`` / ``.nii.gz``: the
  (decompressed) file must hold at least ``vox_offset + prod(dim) * bytes per voxel`` bytes;
- ``.nrrd`` / ``.seg.nrrd`` with attached data: pynrrd reads it whole (it checks the voxel count);
- float NIfTI: every voxel finite (ITK's reader would turn NaN / Inf into 0 silently);
- any file: not empty. Other formats (DICOM, MHA, PNG ...) are left to ITK.
"""

from __future__ import annotations

import gzip
import os
import zlib

import nibabel as nib
import nrrd
import numpy as np

__all__ = ["IncompleteFileError", "check_complete"]


class IncompleteFileError(ValueError):
    """An empty, truncated or corrupt image file, or a NIfTI file holding NaN / Inf."""


def _gzip_length(path: str) -> int:
    n = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                n += len(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise IncompleteFileError(f"{os.path.basename(path)} is a truncated or corrupt gzip stream ({exc})") from None
    return n


def _check_nifti(path: str, length: int) -> None:
    try:
        img = nib.load(path)
        header = img.header
    except Exception as exc:  # nibabel raises several types for a bad header
        raise IncompleteFileError(f"{os.path.basename(path)} is not a valid NIfTI file ({exc})") from None
    shape = header.get_data_shape()
    offset = max(int(header.get_data_offset()), int(getattr(header, "single_vox_offset", 0)))  # 0 on disk means 352
    need = offset + int(np.prod(shape)) * header.get_data_dtype().itemsize
    if length < need:
        raise IncompleteFileError(f"{os.path.basename(path)} is truncated: its header {shape} needs {need} bytes, "
                                  f"the file holds {length}")
    if header.get_data_dtype().kind in "fc":  # ITK's NIfTI reader turns NaN / Inf into 0 without a word
        bad = int(np.size(img.dataobj) - np.isfinite(np.asanyarray(img.dataobj)).sum())
        if bad:
            raise IncompleteFileError(f"{os.path.basename(path)} holds NaN/Inf voxel values ({bad} voxels)")


def check_complete(path: str | os.PathLike) -> None:
    """Raise :class:`IncompleteFileError` when ``path`` is empty, truncated or corrupt (see the module docstring).

    A folder (a DICOM series) is left to the series reader.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return
    size = os.path.getsize(path)
    if size == 0:
        raise IncompleteFileError(f"{os.path.basename(path)} is empty (0 bytes)")
    low = path.lower()
    length = _gzip_length(path) if low.endswith(".gz") else size
    if low.endswith((".nii", ".nii.gz")):
        _check_nifti(path, length)
    elif low.endswith(".nrrd"):
        try:
            nrrd.read(path)
        except Exception as exc:  # pynrrd raises NRRDError, ValueError, zlib.error ...
            raise IncompleteFileError(f"{os.path.basename(path)} is not a complete NRRD file ({exc})") from None
