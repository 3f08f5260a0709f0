"""A real multi-slice DICOM MR series written at test time from a volume (``../shared/data/mr3d``), geometry kept.

One single-frame MR Image Storage instance per slice k of the volume: ``ImagePositionPatient`` = the physical
point of voxel (0, 0, k), ``ImageOrientationPatient`` = the direction's first two columns (row, column
directions), ``PixelSpacing`` = (row spacing, column spacing) = (spacing y, spacing x), ``SpacingBetweenSlices``
/ ``SliceThickness`` = spacing z; pixels are the volume's int16 values. SimpleITK reading the series back gives
the volume's own size, spacing, origin and direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def write_mr_series(volume: sitk.Image, folder: Path, patient: str = "SSB^TEST", description: str = "mr3d test series") -> list[Path]:
    """Write ``volume`` as a DICOM series into ``folder``; the file paths, slice 0 first."""
    folder.mkdir(parents=True, exist_ok=True)
    arr = sitk.GetArrayFromImage(volume).astype(np.int16)  # (Z, Y, X)
    sx, sy, sz = volume.GetSpacing()
    d = np.asarray(volume.GetDirection()).reshape(3, 3)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    files = []
    for k in range(arr.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient, "SSB0001", "19700101", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", "SSB1"
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = "MR", 1, k + 1, description
        ds.Manufacturer = "test"
        ds.ImagePositionPatient = [f"{v:.6f}" for v in volume.TransformIndexToPhysicalPoint((0, 0, k))]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*d[:, 0], *d[:, 1])]
        ds.PixelSpacing = [f"{sy:.6f}", f"{sx:.6f}"]
        ds.SliceThickness = ds.SpacingBetweenSlices = f"{sz:.6f}"
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(arr[k]).tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False
        path = folder / f"slice{k:03d}.dcm"
        pydicom.dcmwrite(str(path), ds, write_like_original=False)
        files.append(path)
    return files
