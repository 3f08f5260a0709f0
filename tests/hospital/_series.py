"""A real multi-slice DICOM MR series written at test time from a volume (``../shared/data/mr3d``), geometry kept.

The series is written by the app's own :func:`lib.dicom.series.write_series` (the one ``make serve`` uses for its
demo CT), as MR Image Storage with fresh UIDs.
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

import tests.hospital.conftest  # noqa: F401  (puts the app's lib on sys.path)
from lib.dicom.series import write_series


def write_mr_series(volume: sitk.Image, folder: Path, patient: str = "SSB^TEST", description: str = "mr3d test series") -> list[Path]:
    """Write ``volume`` as a DICOM MR series into ``folder``; the file paths, slice 0 first."""
    return write_series(volume, folder, modality="MR", patient=(patient, "SSB0001"), description=description)
