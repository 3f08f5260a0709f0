"""A DICOM series folder: its instances' headers, and the volume slice each instance lies on.

MONAI Label's DICOMweb datastore downloads a series into ``<cache>/images/<SeriesInstanceUID>/`` and converts it
with SimpleITK to ``<SeriesInstanceUID>.nii.gz`` beside it; the app infers on that volume. Conventions:

- a volume array is SimpleITK's ``(Z, Y, X)``: X runs along the DICOM row direction (columns), Y along the
  column direction (rows), Z along the slice normal; a 2D image is a volume with Z = 1;
- the slice of an instance is found from its ``ImagePositionPatient`` through the volume's own geometry
  (``TransformPhysicalPointToIndex``), never from file names or instance numbers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

__all__ = ["SeriesError", "read_series_headers", "slice_indices", "series_dir_of"]

logger = logging.getLogger(__name__)


class SeriesError(ValueError):
    """A folder that does not hold one usable DICOM series, or instances off the volume's grid."""


def read_series_headers(folder: str | Path) -> list[pydicom.Dataset]:
    """Headers (pixel data skipped) of every DICOM instance in ``folder`` of one series.

    Raises:
        SeriesError: no DICOM file, or instances of more than one series.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SeriesError(f"expected a DICOM series folder, got {folder} (not a folder)")
    datasets = []
    for name in sorted(os.listdir(folder)):
        try:
            datasets.append(pydicom.dcmread(str(folder / name), stop_before_pixels=True))
        except (pydicom.errors.InvalidDicomError, IsADirectoryError):
            logger.debug("not DICOM, ignored: %s", folder / name)
    if not datasets:
        raise SeriesError(f"expected DICOM files in {folder}, found none")
    series = {str(ds.SeriesInstanceUID) for ds in datasets}
    if len(series) != 1:
        raise SeriesError(f"expected one series in {folder}, found {len(series)}: {sorted(series)}")
    return datasets


def slice_indices(datasets: list[pydicom.Dataset], reference: sitk.Image) -> list[int]:
    """The Z index in ``reference`` (the series' volume) of each instance, from its ImagePositionPatient.

    Raises:
        SeriesError: an instance whose position is not on a slice of ``reference`` (within a tenth of a voxel).
    """
    size_z = reference.GetSize()[2] if reference.GetDimension() == 3 else 1
    out = []
    for ds in datasets:
        if "ImagePositionPatient" not in ds:
            if size_z == 1:
                out.append(0)
                continue
            raise SeriesError(f"instance {ds.SOPInstanceUID} has no ImagePositionPatient; cannot place it")
        point = tuple(float(v) for v in ds.ImagePositionPatient)
        if reference.GetDimension() == 2:
            point = point[:2]
        cont = reference.TransformPhysicalPointToContinuousIndex(point)
        k = int(round(cont[2])) if reference.GetDimension() == 3 else 0
        if not (0 <= k < size_z) or np.max(np.abs(np.asarray(cont) - np.round(cont))) > 0.1:
            raise SeriesError(f"instance {ds.SOPInstanceUID} at {point} is not on a slice of the volume (index {cont})")
        out.append(k)
    return out


def series_dir_of(image_uri: str) -> str:
    """The DICOM folder MONAI Label's DICOMweb cache keeps beside a converted volume (``<dir>/<uid>.nii.gz``)."""
    for ext in (".nii.gz", ".nii", ".nrrd"):
        if image_uri.endswith(ext):
            return image_uri[: -len(ext)]
    return image_uri
