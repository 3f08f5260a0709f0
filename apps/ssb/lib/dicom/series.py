"""A DICOM series folder: its instances' headers, and the volume slice each instance lies on.

MONAI Label's DICOMweb datastore downloads a series into ``<cache>/images/<SeriesInstanceUID>/`` and converts it
with SimpleITK to ``<SeriesInstanceUID>.nii.gz`` beside it; the app infers on that volume. Conventions:

- a volume array is SimpleITK's ``(Z, Y, X)``: X runs along the DICOM row direction (columns), Y along the
  column direction (rows), Z along the slice normal; a 2D image is a volume with Z = 1;
- the slice of an instance is found from its ``ImagePositionPatient`` through the volume's own geometry
  (``TransformPhysicalPointToIndex``), never from file names or instance numbers.

:func:`write_series` goes the other way (a volume -> one single-frame instance per slice), for the demo study
``make serve`` puts into its PACS and for the tests.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

__all__ = ["SeriesError", "read_series_headers", "slice_indices", "series_dir_of", "write_series"]

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


def write_series(volume: sitk.Image, folder: str | Path, *, modality: str = "CT", uid_seed: str | None = None,
                 patient: tuple[str, str] = ("SSB^DEMO", "SSB0001"), description: str = "SSB demo series",
                 window: tuple[float, float] | None = None) -> list[Path]:
    """Write a 3D ``volume`` as a DICOM series (one instance per slice k, ``slice{k:03d}.dcm``); the paths, k = 0 first.

    Geometry: ``ImagePositionPatient`` = the physical point of voxel (0, 0, k), ``ImageOrientationPatient`` = the
    direction's first two columns, ``PixelSpacing`` = (spacing y, spacing x), ``SliceThickness`` /
    ``SpacingBetweenSlices`` = spacing z; pixels are the volume's values as int16 (CT: Hounsfield units, rescale
    slope 1, intercept 0). SimpleITK reads the series back with the volume's own size, spacing, origin, direction.

    Args:
        modality: ``CT`` (CT Image Storage) or ``MR`` (MR Image Storage).
        uid_seed: the same seed gives the same Study / Series / SOP Instance UIDs (uploading the series again is
            then a no-op for a PACS); None draws new ones.
        window: (centre, width) shown by default in viewers (e.g. a lung window for a chest CT).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

    sop_class = {"CT": CTImageStorage, "MR": MRImageStorage}[modality]

    def uid(*parts: object) -> str:
        return generate_uid(entropy_srcs=[uid_seed, *map(str, parts)] if uid_seed is not None else None)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = sitk.GetArrayFromImage(volume).astype(np.int16)  # (Z, Y, X)
    sx, sy, sz = volume.GetSpacing()
    d = np.asarray(volume.GetDirection()).reshape(3, 3)
    study, series, frame = uid("study"), uid("series"), uid("frame")
    files = []
    for k in range(arr.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, uid("instance", k)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID = patient
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", "SSB1"
        ds.StudyDescription, ds.ReferringPhysicianName = description, ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = modality, 1, k + 1, description
        ds.Manufacturer = "SSB demo"
        ds.ImagePositionPatient = [f"{v:.6f}" for v in volume.TransformIndexToPhysicalPoint((0, 0, k))]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*d[:, 0], *d[:, 1])]
        ds.PixelSpacing = [f"{sy:.6f}", f"{sx:.6f}"]
        ds.SliceThickness = ds.SpacingBetweenSlices = f"{sz:.6f}"
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType, ds.KVP = "0", "1", "HU", "120"
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
        ds.PixelData = np.ascontiguousarray(arr[k]).tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False
        path = folder / f"slice{k:03d}.dcm"
        pydicom.dcmwrite(str(path), ds, write_like_original=False)
        files.append(path)
    return files
