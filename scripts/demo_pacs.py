#!/usr/bin/env python
"""Put the demo chest CT into a DICOMweb server (the PACS of ``make serve``), as a DICOM CT series.

    python scripts/demo_pacs.py --dicomweb http://127.0.0.1:8042/dicom-web [--series .cache/demo_dicom]

The CT region shipped in ``sample-apps/ssb-local/demo/`` (LIDC-IDRI-0003, CC BY 3.0, see its ATTRIBUTION.md) is
written once as a DICOM series (one CT instance per slice, Hounsfield units, a lung window, the region's own
geometry; :func:`lib.dicom.series.write_series`) and stored with STOW-RS. Its UIDs are derived from a fixed
seed, so running this again stores the same instances again, which a PACS keeps as one study. Prints the
StudyInstanceUID and SeriesInstanceUID; exits 1 with the server's answer when the store fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "apps" / "ssb"))  # the app's DICOM helpers (lib.dicom)

DEMO_CT = REPO_ROOT / "sample-apps" / "ssb-local" / "demo" / "LIDC-IDRI-0003_demo.nii.gz"
DEFAULT_SERIES = REPO_ROOT / ".cache" / "demo_dicom"
UID_SEED = "ssb-demo-LIDC-IDRI-0003-region"
LUNG_WINDOW = (-600.0, 1500.0)

logger = logging.getLogger("demo_pacs")


def demo_series(folder: Path) -> list[Path]:
    """The demo CT as DICOM files in ``folder`` (written on first use)."""
    import SimpleITK as sitk

    from lib.dicom.series import write_series

    files = sorted(folder.glob("slice*.dcm"))
    volume = sitk.ReadImage(str(DEMO_CT))
    if len(files) == volume.GetSize()[2]:
        return files
    logger.info("writing the demo CT as a DICOM series into %s", folder)
    return write_series(volume, folder, modality="CT", uid_seed=UID_SEED, patient=("LIDC-IDRI-0003", "LIDC-IDRI-0003"),
                        description="SSB demo: LIDC-IDRI-0003 chest CT region", window=LUNG_WINDOW)


def store(dicomweb: str, files: list[Path]) -> tuple[str, str]:
    """STOW-RS the files to ``dicomweb``; (StudyInstanceUID, SeriesInstanceUID)."""
    import pydicom
    from dicomweb_client.api import DICOMwebClient

    datasets = [pydicom.dcmread(str(f)) for f in files]
    DICOMwebClient(url=dicomweb).store_instances(datasets=datasets)
    return str(datasets[0].StudyInstanceUID), str(datasets[0].SeriesInstanceUID)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dicomweb", required=True, help="DICOMweb root of the PACS, e.g. http://127.0.0.1:8042/dicom-web")
    ap.add_argument("--series", type=Path, default=DEFAULT_SERIES, help="folder for the DICOM files (kept between runs)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[demo_pacs] %(message)s")
    try:
        study, series = store(args.dicomweb, demo_series(args.series))
    except Exception as exc:  # the PACS refused or did not answer: say so, with its answer
        logger.error("cannot store the demo CT to %s: %s", args.dicomweb, exc)
        return 1
    logger.info("demo CT stored: StudyInstanceUID %s, SeriesInstanceUID %s", study, series)
    print(study, series)
    return 0


if __name__ == "__main__":
    sys.exit(main())
