#!/usr/bin/env python
"""The whole-scan path's start perturbation, chosen on lidc128's validation nodules stacked in 3D.

    python scripts/whole_scan_choice.py --start-noise 0.05 0.02 0.01 [--max-nodules 231] [--out docs/results/decisions/whole_scan_start_noise]

Each validation nodule's crops, stacked along z (:mod:`ssb_core.data.lidc128_stacks`: native pixel size and slice
thickness, its present readers' 3D masks), get a click at their readers' centre on the slice where they draw most,
and go through :func:`ssb_core.volume.segment_lesion` as a click on a whole CT does (8 candidates, the server's NFE,
the app's growth settings), once per start perturbation. Per setting: the share of nodules found, the candidates'
median volume over the readers' median (per nodule; its median and the share of nodules within 0.75-1.33), 3D GED
and D_max against the present readers, the share of candidates that are one 3D region without holes, the mean
pairwise Dice between candidates (how alike they are), the seconds per click; also for the nodules of at least three
readers. Writes ``results.json`` (every nodule's figures) and ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("whole_scan_choice")


def summarise(rows: list[dict]) -> dict:
    """The figures of one setting over its nodules' ``rows`` (from :func:`score_click`)."""
    found = [r for r in rows if r["found"]]
    ratio = np.array([r["volume_ratio"] for r in found if np.isfinite(r["volume_ratio"])])
    ones = sum(r["one_region"] * r["non_empty"] for r in found) / max(1, sum(r["non_empty"] for r in found))
    return {"nodules": len(rows), "found": len(found) / max(1, len(rows)),
            "volume_ratio_median": float(np.median(ratio)) if ratio.size else float("nan"),
            "within_0.75_1.33": float(np.mean((ratio >= 0.75) & (ratio <= 1.33))) if ratio.size else float("nan"),
            "ged": float(np.mean([r["ged"] for r in found])), "d_max": float(np.mean([r["d_max"] for r in found])),
            "one_region": float(ones), "candidate_dice": float(np.nanmean([r["candidate_dice"] for r in found])),
            "seconds": float(np.mean([r["seconds"] for r in rows]))}


def score_click(stack, pipe, pre, config, settings, seed: int, readers: list[int] | None = None) -> dict:
    """One click on one :class:`NoduleStack`, scored against its present readers; ``readers``: each candidate's
    reader label (None: cycling through the readers, the app's default)."""
    from ssb_core.evaluation.whole_scan import score_lesion
    from ssb_core.metrics.overlap import pairwise_dice
    from ssb_core.volume import segment_lesion, to_full
    from ssb_core.volume.roi import plan_roi

    plan = plan_roi(stack.volume_zyx.shape, stack.spacing_xyz, pre, foreground=[list(stack.click_ijk)])
    start = time.perf_counter()
    result = segment_lesion(pipe, pre, stack.volume_zyx, stack.spacing_xyz, plan, config, readers, seed, settings)
    seconds = time.perf_counter() - start
    found = bool(result.presence.lesion) if result.presence is not None else bool(result.masks.any())
    s = score_lesion(result, stack.readers_zyx, float(np.prod(stack.spacing_xyz)))
    cands = to_full(result.masks, result.plan, stack.volume_zyx.shape, fill=False)
    drawn = cands[cands.reshape(len(cands), -1).any(axis=1)]
    dice = pairwise_dice(drawn, drawn) if len(drawn) > 1 else np.full((1, 1), np.nan)
    iu = np.triu_indices(len(drawn), 1)
    return {"nodule": stack.nodule_id, "readers": int(stack.readers_zyx.shape[0]), "found": found, "seconds": seconds,
            "ged": s["ged"], "d_max": s["d_max"], "volume_ratio": float(s["volume_ratio"]),
            "z_extent_ratio": s["z_extent_ratio"], "widest_area_ratio": s["widest_area_ratio"], "one_region": s["one_region"],
            "non_empty": int(len(drawn)), "candidate_dice": float(dice[iu].mean()) if iu[0].size else float("nan"),
            "reader_volume_mm3": float(np.median(s["reader_volumes_mm3"])), "scale": result.scale}


def markdown(summary: dict[str, dict[str, dict]], nodules: int, split: str) -> str:
    head = ["start noise", "nodules", "found", "median volume / readers'", "within 0.75-1.33", "GED ↓", "D_max ↑",
            "one region", "candidates' mutual Dice", "s / click"]
    lines = [f"### lidc128 {split}: {nodules} nodules stacked in 3D, a click at each, 8 candidates", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group in ("all", "3+ readers"):
        for noise, groups in summary.items():
            g = groups[group]
            lines.append(f"| {noise} ({group}) | {g['nodules']} | {g['found']:.2f} | {g['volume_ratio_median']:.2f} | "
                         f"{g['within_0.75_1.33']:.2f} | {g['ged']:.3f} | {g['d_max']:.3f} | {g['one_region']:.2f} | "
                         f"{g['candidate_dice']:.2f} | {g['seconds']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "ssb_lidc128.pt")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lidc128")
    ap.add_argument("--split", choices=["val", "test"], default="val")
    ap.add_argument("--start-noise", type=float, nargs="+", required=True)
    ap.add_argument("--max-nodules", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--readers", type=int, nargs="+", default=None,
                    help="the reader labels the 8 candidates cycle through (0-based; the model's reader count = no "
                         "reader's style); default: all the model's readers, as the app does")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch
    from tqdm.auto import tqdm

    sys.path.insert(0, str(REPO))
    from benchmarks.server_latency import server_sampling
    from ssb_core.data.lidc128_stacks import nodule_stacks
    from ssb_core.evaluation.whole_scan import click_model
    from ssb_core.volume import GrowthSettings

    torch.set_num_threads(args.threads)
    pipe, pre, config, labels = click_model(args.checkpoint, server_sampling()[1], readers=args.readers)
    stacks = nodule_stacks(args.data / f"{args.split}.npz", args.max_nodules)
    rows, summary = {}, {}
    for noise in args.start_noise:
        settings = GrowthSettings(start_noise=noise)
        rows[noise] = [score_click(s, pipe, pre, config, settings, args.seed, labels)
                       for s in tqdm(stacks, desc=f"start noise {noise:g}", disable=not sys.stderr.isatty())]
        summary[f"{noise:g}"] = {"all": summarise(rows[noise]),
                                 "3+ readers": summarise([r for r in rows[noise] if r["readers"] >= 3])}
        logger.info("start noise %g: %s", noise, json.dumps(summary[f"{noise:g}"]))
    table = markdown(summary, len(stacks), args.split)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(table)
        (args.out / "results.json").write_text(json.dumps(
            {"command": " ".join(["python", "scripts/whole_scan_choice.py", *(argv or sys.argv[1:])]),
             "sampling": config.to_dict(), "reader_labels": labels, "summary": summary, "nodules": {f"{k:g}": v for k, v in rows.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
