#!/usr/bin/env python
"""Does the candidates' threshold set their size? The 2D figures of one sampling at several thresholds.

    python scripts/threshold_choice.py [--checkpoint models/ssb_lidc128.pt] [--max-images 400] [--out DIR]

On lidc128 validation slices spread evenly over the split, the checkpoint's sampler at the server's N and NFE (16
candidates, NFE 2 by default) samples each image once; the same probability maps are then thresholded at each of
``--thresholds``. Per threshold: the mean GED with absent readers as empty masks and excluded, the mean D_max
(excluded), the share of empty candidates, the share of non-empty candidates that are one region without holes, and
the median over images of the candidates' median area over the readers' (all slices, and the slices all four readers
drew with a median area under 150 pixels: the small nodules). ``--out`` writes ``results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from val_outlines import add_options, sampled_batches

logger = logging.getLogger("threshold_choice")
FIGURES = ("ged_empty", "ged_excluded", "d_max_excluded", "empty", "one_region", "area_ratio", "area_ratio_small")


def small_nodule(masks: np.ndarray, present: np.ndarray) -> bool:
    """All four readers drew this slice, their median area under 150 pixels."""
    drawn = masks[present].reshape(int(present.sum()), -1).sum(axis=1)
    return bool(present.all() and (drawn > 0).all() and np.median(drawn) < 150)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(ap)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.4, 0.3, 0.2])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from ssb_core.evaluation.provenance import file_record, run_record
    from ssb_core.evaluation.report import markdown_table
    from ssb_core.metrics.image_metrics import image_metrics
    from ssb_core.metrics.shape import shape_metrics

    _, images_count, batches = sampled_batches(args)
    per = {t: {k: [] for k in FIGURES} for t in args.thresholds}
    for batch, _, probs in batches:
        for sample, p in zip(batch, probs):
            masks, present = np.asarray(sample["masks"], np.uint8), np.asarray(sample["reader_present"], bool)
            small = small_nodule(masks, present)
            for t in args.thresholds:
                cands = p > t
                empty, excluded = image_metrics(cands, masks, present, "empty"), image_metrics(cands, masks, present, "exclude")
                shape = shape_metrics(cands, masks, present)
                row = per[t]
                row["ged_empty"].append(empty.ged)
                row["ged_excluded"].append(excluded.ged)
                row["d_max_excluded"].append(excluded.d_max)
                row["empty"].append(shape["empty"])
                row["one_region"].append(shape["one_region"])
                row["area_ratio"].append(shape["area_ratio"])
                if small:
                    row["area_ratio_small"].append(shape["area_ratio"])
    summary = {str(t): {k: float(np.nanmedian(v) if k.startswith("area") else np.nanmean(v)) for k, v in per[t].items()}
               for t in args.thresholds}
    small_images = len(per[args.thresholds[0]]["area_ratio_small"])
    text = markdown_table(["threshold", "GED as empty ↓", "GED excluded ↓", "D_max excluded ↑", "empty", "one region",
                           "area / readers' (median)", f"area / readers', small nodules ({small_images} slices)"],
                          [[t, *(f"{summary[str(t)][k]:.3f}" for k in FIGURES)] for t in args.thresholds])
    print(text, end="")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {"run": run_record(["python", "scripts/threshold_choice.py", *(argv if argv is not None else sys.argv[1:])]),
                  "checkpoint": file_record(args.checkpoint), "images": images_count, "num_candidates": args.num_candidates,
                  "nfe": args.nfe, "small_nodule_slices": small_images, "summary": summary}
        (args.out / "results.json").write_text(json.dumps(record, indent=1) + "\n")
        (args.out / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
