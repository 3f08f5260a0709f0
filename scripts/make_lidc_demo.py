#!/usr/bin/env python
"""Cut the demo study shipped in ``sample-apps/ssb-local/demo/`` from the lidc3d data (run once, by a maintainer).

    python scripts/make_lidc_demo.py [--lidc3d ../shared/data/lidc3d] [--out sample-apps/ssb-local/demo]

Writes a region of LIDC-IDRI-0003's chest CT around its three nodules that four radiologists outlined
(``LIDC-IDRI-0003_demo.nii.gz``, int16 HU, the scan's own spacing and direction, the origin moved to the
region's first voxel) and each reader's mask of those nodules on the same grid
(``labels/reader_<k>/LIDC-IDRI-0003_demo.nii.gz``, uint8 {0, 1}), plus ``demo.json`` (where the region lies in
the full scan, the nodules' centres in region voxels) and ``ATTRIBUTION.md`` (LIDC-IDRI is CC BY 3.0).
The region is sized to stay under 5 MB in all.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk

logger = logging.getLogger("make_lidc_demo")

REPO_ROOT = Path(__file__).resolve().parents[1]
PATIENT = "LIDC-IDRI-0003"
NAME = f"{PATIENT}_demo"
#: voxel index ranges (i, j, k) on the full 512x512x140 grid: the three 4-reader nodules and about 2 cm around
REGION = ((176, 432), (160, 416), (58, 102))


def cut(image: sitk.Image, region: tuple[tuple[int, int], ...]) -> sitk.Image:
    """The voxel ranges [lo, hi) of ``region`` (i, j, k) as a new image with the matching origin."""
    lo = [r[0] for r in region]
    size = [r[1] - r[0] for r in region]
    return sitk.RegionOfInterest(image, size, lo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lidc3d", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "lidc3d")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "sample-apps" / "ssb-local" / "demo")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    manifest = json.loads((args.lidc3d / "manifest.json").read_text())
    nodules = [n for n in manifest["nodules"] if n["patient"] == PATIENT and n["n_readers"] == 4]
    full = args.lidc3d / "full" / PATIENT
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    ct = cut(sitk.ReadImage(str(full / "ct.nii.gz")), REGION)
    sitk.WriteImage(sitk.Cast(ct, sitk.sitkInt16), str(out / f"{NAME}.nii.gz"), useCompression=True)
    readers = sorted({r for n in nodules for r in n["readers_present"]})
    for reader in readers:
        union = None
        for n in nodules:
            m = sitk.GetArrayFromImage(sitk.ReadImage(str(full / "labels" / reader / f"{n['nodule_id']}.nii.gz"))) > 0
            union = m if union is None else union | m
        mask = sitk.GetImageFromArray(union.astype(np.uint8))
        mask.CopyInformation(sitk.ReadImage(str(full / "ct.nii.gz")))
        (out / "labels" / reader).mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(cut(mask, REGION), str(out / "labels" / reader / f"{NAME}.nii.gz"), useCompression=True)
    lo = np.array([r[0] for r in REGION], dtype=float)
    info = {
        "image": f"{NAME}.nii.gz",
        "source": f"{PATIENT} whole chest CT (lidc3d), voxel ranges i, j, k [lo, hi) = {[list(r) for r in REGION]}",
        "readers": readers,
        "nodules": [{"nodule_id": n["nodule_id"], "centre_voxel_ijk": [round(c - o, 1) for c, o in zip(n["centroid_voxel_ijk"], lo)],
                     "diameters_mm": [n["per_reader"][r]["diameter_mm"] for r in n["readers_present"]]} for n in nodules],
    }
    (out / "demo.json").write_text(json.dumps(info, indent=1) + "\n")
    shutil.copy(args.lidc3d / "ATTRIBUTION.md", out / "ATTRIBUTION.md")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    logger.info("wrote %s: %.2f MB in all", out, total / 2**20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
