#!/usr/bin/env python
"""How much lung borders the readers' outlines of real nodules: the figures behind ``GrowthSettings.min_lung_contact``.

    python scripts/lung_contact_readers.py [--lidc128 ../shared/data/lidc128] [--splits train val] [--out FILE.json]

Per nodule and present reader of lidc128, the share of a 2 mm in-plane shell around the reader's outline that is
lung, summed over the nodule's slices (:func:`ssb_core.volume.lung.shell_share`, the rule the server applies at a
click). lidc128's crops are min-max scaled per crop (absolute HU is not recoverable): lung is what lies below the
crop's Otsu threshold, padding outside the scan's field of view (the crop's minimum) left out. Prints the
percentiles and the share of outlines below each candidate threshold; ``--out`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("lung_contact_readers")
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3)


def otsu_lung(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: the dark class of a uint8 crop by Otsu's threshold, the crop's minimum (padding) excluded."""
    values = image[image > image.min()]
    hist, _ = np.histogram(values, bins=256, range=(0, 256))
    p = hist / max(1, hist.sum())
    w, m = np.cumsum(p), np.cumsum(p * np.arange(256))
    between = (m[-1] * w - m) ** 2 / np.maximum(w * (1 - w), 1e-12)
    return (image < int(np.argmax(between))) & (image > image.min())


def reader_shares(path: Path) -> np.ndarray:
    """Every present reader's lung share, one per (nodule, reader) of the split file ``path``."""
    from ssb_core.volume.lung import shell_share

    with np.load(path, allow_pickle=True) as npz:  # each array read once (an NpzFile reads it again at every access)
        d = {k: npz[k] for k in ("images", "masks", "patient_id", "nodule", "pixel_spacing_mm")}
    rows: dict[tuple, list[int]] = defaultdict(list)
    for i, key in enumerate(zip(d["patient_id"], d["nodule"])):
        rows[key].append(i)
    shares = []
    for idx in rows.values():
        lung = np.stack([otsu_lung(d["images"][i]) for i in idx])
        masks = d["masks"][idx].transpose(1, 0, 2, 3) > 0  # (4, S, H, W)
        spacing = float(d["pixel_spacing_mm"][idx[0]])
        share = shell_share(masks, lung, (spacing, spacing))
        shares.extend(float(s) for s in share if not np.isnan(s))
    logger.info("%s: %d nodules, %d reader outlines", path.name, len(rows), len(shares))
    return np.asarray(shares)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lidc128", type=Path, default=REPO.parent / "shared" / "data" / "lidc128")
    ap.add_argument("--splits", nargs="+", default=["train", "val"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    shares = np.concatenate([reader_shares(args.lidc128 / f"{s}.npz") for s in args.splits])
    report = {"splits": args.splits, "outlines": int(len(shares)),
              "percentiles": {str(q): round(float(np.percentile(shares, q)), 3) for q in (0.5, 1, 2, 5, 10, 50)},
              "share_below": {str(t): round(float((shares < t).mean()), 4) for t in THRESHOLDS}}
    logger.info("%s", json.dumps(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
