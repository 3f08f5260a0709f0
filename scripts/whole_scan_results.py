#!/usr/bin/env python
"""The 3D results table: a click on each real nodule of the whole lidc3d chest CTs, scored against its readers.

    python scripts/whole_scan_results.py [--checkpoint models/ssb_lidc128.pt] [--nfe 2] [--seeds 0 1 2] [--out docs/results/lidc3d]

Per nodule and seed: the readers' mean pairwise 3D Dice, SSB's 3D D_max, GED and CI, the candidates' volumes against
the readers' (their medians' ratio), the empty candidates, the share of candidates that are one 3D region without holes
(:mod:`ssb_core.metrics.shape`), the slices the answer spans (those its final draws reached) and the seconds per click (in-process, 8 candidates, the app's
growth settings and the checkpoint's sampling defaults as those settings apply them, as the server serves them); then
per seed the means. Also two clicks where there is nothing (air in front of the chest, mediastinal fat,
LIDC-IDRI-0001): how many candidates draw anything, and the consensus. Writes ``results.json`` (every figure, the
checkpoint's and the data's SHA-256, the command), ``results.md`` (the table) and, per nodule,
``montages/<nodule>_axial.png`` and ``_coronal.png`` through the click (the first seed): the CT, each reader's mask,
the candidates' mean and variability, and every candidate.
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
logger = logging.getLogger("whole_scan_results")


def montages(out: Path, case, volume: np.ndarray, spacing, readers: np.ndarray, cands: np.ndarray, title: str) -> list[str]:
    """Axial and coronal views through the click, cropped around everything drawn (square pixels in both)."""
    from ssb_core.evaluation.montage import save_montage

    i, j, k = case.click_ijk
    drawn = readers.any(axis=0) | cands.any(axis=0)
    zz, yy, xx = np.nonzero(drawn) if drawn.any() else ([k], [j], [i])
    pad = 12
    y0, y1 = max(0, min(yy) - pad), min(volume.shape[1], max(yy) + pad + 1)
    x0, x1 = max(0, min(xx) - pad), min(volume.shape[2], max(xx) + pad + 1)
    z0, z1 = max(0, min(zz) - 3), min(volume.shape[0], max(zz) + 4)
    present = np.ones(len(readers), dtype=bool)
    names = [p.parent.name for p in case.reader_paths]
    paths = []
    axial = (volume[k, y0:y1, x0:x1], readers[:, k, y0:y1, x0:x1], cands[:, k, y0:y1, x0:x1])
    stretch = max(1, int(round(spacing[2] / spacing[1])))
    coronal = tuple(np.repeat(a[..., ::-1, :], stretch, axis=-2) for a in
                    (volume[z0:z1, j, x0:x1], readers[:, z0:z1, j, x0:x1], cands[:, z0:z1, j, x0:x1]))
    for view, (img, rd, cd) in (("axial", axial), ("coronal", coronal)):
        path = out / "montages" / f"{case.nodule_id}_{view}.png"
        save_montage(path, img, rd.astype(np.uint8), present, cd.astype(np.float32), f"{title} - {view}", scale=3,
                     reader_names=names)
        paths.append(str(path.relative_to(out)))
    return paths


TABLE_HEADER = ["nodule", "seed", "readers' pairwise 3D Dice", "SSB 3D D_max ↑", "GED ↓", "CI ↑",
                "candidate volumes mm³ (min–median–max)", "reader volumes mm³ (min–max)", "median volume / readers'",
                "empty candidates", "one region without holes", "slices spanned", "s / click"]
#: LIDC-IDRI-0001, slice 90: air in front of the chest, and fat in the mediastinum
NOTHING_CLICKS = {"air in front of the chest": [256, 40, 90], "mediastinal fat": [250, 250, 90]}


def volume_ratio(row: dict) -> float:
    """Median candidate volume (empty ones included) over the readers' median."""
    return float(np.median(row["candidate_volumes_mm3"]) / np.median(row["reader_volumes_mm3"]))


def table(rows: list[dict]) -> str:
    """One line per nodule and seed (the rows of ``results.json``), then each seed's means, as a markdown table."""
    from ssb_core.evaluation.report import markdown_table

    lines = []
    for r in rows:
        cv, rv = r["candidate_volumes_mm3"], r["reader_volumes_mm3"]
        lines.append([r["nodule"], r["seed"], f"{r['readers_pairwise_dice']:.2f}", f"{r['d_max']:.3f}", f"{r['ged']:.3f}",
                      f"{r['ci']:.3f}", f"{min(cv):.0f}–{np.median(cv):.0f}–{max(cv):.0f}", f"{min(rv):.0f}–{max(rv):.0f}",
                      f"{volume_ratio(r):.2f}", r["empty_candidates"], f"{r['one_region']:.2f}", r["slices_sampled"],
                      f"{r['seconds']:.1f}"])
    for seed in sorted({r["seed"] for r in rows}):
        of = [r for r in rows if r["seed"] == seed]
        mean = {k: float(np.mean([r[k] for r in of])) for k in ("readers_pairwise_dice", "d_max", "ged", "ci", "seconds")}
        lines.append([f"**mean, seed {seed}**", seed, f"{mean['readers_pairwise_dice']:.2f}", f"**{mean['d_max']:.3f}**",
                      f"{mean['ged']:.3f}", f"{mean['ci']:.3f}", "", "", "", sum(r["empty_candidates"] for r in of), "", "",
                      f"{mean['seconds']:.1f}"])
    return markdown_table(TABLE_HEADER, lines)


def nothing_table(rows: list[dict]) -> str:
    from ssb_core.evaluation.report import markdown_table

    return markdown_table(["click (LIDC-IDRI-0001)", "seed", "candidates drawing anything", "consensus voxels", "answer"],
                          [[r["click"], r["seed"], f"{r['drawn']} of {r['num_candidates']}", r["consensus_voxels"], r["message"]]
                           for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "ssb_lidc128.pt")
    ap.add_argument("--lidc3d", type=Path, default=REPO.parent / "shared" / "data" / "lidc3d")
    ap.add_argument("--nfe", type=int, default=None, help="network evaluations (default: the server's, server.conf)")
    ap.add_argument("--num-candidates", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "lidc3d")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    sys.path.insert(0, str(REPO))
    from benchmarks.server_latency import server_sampling
    from ssb_core.evaluation.provenance import file_record, run_record
    from ssb_core.hashing import file_sha256 as sha256
    from ssb_core.evaluation.whole_scan import click_candidates, click_model, load_lidc3d, read_volume, score_lesion
    from ssb_core.volume import to_full

    torch.set_num_threads(args.threads)
    nfe = args.nfe or server_sampling()[1]
    # what segment_lesion samples with (recorded in results.json): the checkpoint's defaults as the growth settings apply them
    pipe, pre, config, _ = click_model(args.checkpoint, nfe, args.num_candidates)
    rows, nothing, data_files = [], [], {}
    cases = load_lidc3d(args.lidc3d)
    for seed in args.seeds:
        for case in cases:
            volume, spacing = read_volume(case.ct_path)
            readers = np.stack([read_volume(p)[0] > 0 for p in case.reader_paths])
            t0 = time.perf_counter()
            result = click_candidates(pipe, pre, volume, spacing, case.click_ijk, config, seed)
            seconds = time.perf_counter() - t0
            scores = score_lesion(result, readers, float(np.prod(spacing)))
            row = {"nodule": case.nodule_id, "seed": seed, "click_ijk": list(case.click_ijk), "seconds": round(seconds, 2), **scores}
            if seed == args.seeds[0]:
                cands = to_full(result.masks, result.plan, volume.shape, fill=False)
                title = f"{case.nodule_id}: D_max {scores['d_max']:.2f}, GED {scores['ged']:.2f}, NFE {nfe}, seed {seed}"
                row["montages"] = montages(args.out, case, volume, spacing, readers, cands, title)
            rows.append(row)
            for p in (case.ct_path, *case.reader_paths):
                data_files.setdefault(str(p.relative_to(args.lidc3d)), sha256(p))
            logger.info("%s seed %d: D_max %.3f GED %.3f, volume ratio %.2f, %d empty, %d slices, %.1f s", case.nodule_id, seed,
                        scores["d_max"], scores["ged"], volume_ratio(row), scores["empty_candidates"], scores["slices_sampled"], seconds)
        volume, spacing = read_volume(next(c for c in cases if c.nodule_id.startswith("LIDC-IDRI-0001")).ct_path)
        for name, click in NOTHING_CLICKS.items():
            result = click_candidates(pipe, pre, volume, spacing, click, config, seed)
            votes = result.masks.sum(axis=0)
            drawn = int(result.masks.reshape(result.num_candidates, -1).any(axis=1).sum())
            consensus_voxels = int((votes * 2 >= result.num_candidates).sum() if result.masks.any() else 0)
            message = "no lesion found" if consensus_voxels == 0 else "a lesion"
            nothing.append({"click": name, "click_ijk": click, "seed": seed, "drawn": drawn, "num_candidates": result.num_candidates,
                            "consensus_voxels": consensus_voxels, "message": message})
    results = {
        "run": run_record(["python", "scripts/whole_scan_results.py", *(argv if argv is not None else sys.argv[1:])]),
        "checkpoint": file_record(args.checkpoint),
        "data": {"lidc3d_sha256": data_files}, "preprocessing": pre.to_dict(),
        "sampling": config.to_dict(), "seeds": args.seeds, "click": "manifest centroid_voxel_ijk, rounded", "nodules": rows,
        "nothing_here": nothing,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    text = table(rows) + "\nClicks where there is no lesion:\n\n" + nothing_table(nothing)
    (args.out / "results.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
