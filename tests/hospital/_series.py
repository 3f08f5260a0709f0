"""A real multi-slice DICOM MR series written at test time from a volume (``../shared/data/mr3d``), geometry kept;
and any DICOM instances copied as another patient's.

The series is written by the app's own :func:`lib.dicom.series.write_series` (the one ``make serve`` uses for its
demo CT), as MR Image Storage with fresh UIDs. :func:`as_other_patient` rewrites the patient and every UID of
existing files with pydicom (pixels and geometry unchanged), e.g. to store a second patient in the PACS.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import SimpleITK as sitk
from pydicom.uid import generate_uid

import tests.hospital.conftest  # noqa: F401  (puts the app's lib on sys.path)
from lib.dicom.series import write_series


def write_mr_series(volume: sitk.Image, folder: Path, patient: str = "SSB^TEST", description: str = "mr3d test series") -> list[Path]:
    """Write ``volume`` as a DICOM MR series into ``folder``; the file paths, slice 0 first."""
    return write_series(volume, folder, modality="MR", patient=(patient, "SSB0001"), description=description)


def as_other_patient(files: list[Path], folder: Path, patient_id: str, patient_name: str = "SSB^OTHER") -> list[Path]:
    """Copies of ``files`` in ``folder`` as patient ``patient_id``: PatientID / PatientName replaced, and the Study,
    Series, Frame of Reference and SOP Instance UIDs replaced by UIDs derived from the old ones and ``patient_id``
    (the same call gives the same UIDs). The written paths, in the order of ``files``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        ds = pydicom.dcmread(str(f))
        ds.PatientID, ds.PatientName = patient_id, patient_name
        for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID"):
            if key in ds:
                setattr(ds, key, generate_uid(entropy_srcs=[patient_id, str(getattr(ds, key))]))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / Path(f).name
        ds.save_as(str(path))
        out.append(path)
    return out
