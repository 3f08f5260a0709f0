#!/usr/bin/env python
"""Build a ready local studies folder for the annotation app from real images bundled with pydicom.

    python scripts/make_demo_studies.py [--out .cache/studies] [--force]

Writes ``ct_small.nii.gz`` (pydicom's ``CT_small.dcm``: a real 128x128 CT slice, 0.66 x 0.66 mm, 5 mm thick)
and, when pydicom ships it, ``mr_small.nii.gz`` (``MR_small.dcm``: a real 64x64 MR slice), read with SimpleITK so
that spacing, origin and direction are the DICOM's, intensities in Hounsfield units / scanner units (rescale
slope and intercept applied). No synthetic image, and nothing from ../shared/data. Existing files are kept
unless ``--force``, so running it again is cheap; prints the folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / ".cache" / "studies"
SOURCES = {"ct_small": ("CT_small.dcm", True), "mr_small": ("MR_small.dcm", False)}  # name: (pydicom file, required)


def convert(dicom_path: Path, out_path: Path) -> None:
    import numpy as np
    import SimpleITK as sitk

    image = sitk.ReadImage(str(dicom_path))  # applies RescaleSlope/Intercept; keeps spacing, origin, direction
    arr = sitk.GetArrayFromImage(image)
    if arr.min() >= np.iinfo(np.int16).min and arr.max() <= np.iinfo(np.int16).max:
        image = sitk.Cast(image, sitk.sitkInt16)
    tmp = out_path.with_name(f".{out_path.name}.tmp.nii.gz")
    sitk.WriteImage(image, str(tmp), useCompression=True)
    tmp.replace(out_path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"studies folder (default {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    ap.add_argument("--force", action="store_true", help="rewrite images that already exist")
    args = ap.parse_args(argv)

    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        print("error: pydicom is not installed in this environment (pip install 'pydicom<3')", file=sys.stderr)
        return 2

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name, (source, required) in SOURCES.items():
        target = out / f"{name}.nii.gz"
        if target.is_file() and not args.force:
            print(f"kept    {target}")
            continue
        path = get_testdata_file(source)
        if path is None:
            if required:
                print(f"error: pydicom does not ship {source}", file=sys.stderr)
                return 2
            continue
        convert(Path(path), target)
        print(f"wrote   {target}  (from pydicom {source})")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
