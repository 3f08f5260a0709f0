#!/usr/bin/env python
"""Clicks where no reader drew a nodule, on the whole lidc3d CTs: how often the answer is "a lesion".

    python scripts/negative_clicks.py [--checkpoint models/ssb_lidc128.pt] [--per-tissue 8] [--readers 0 1] [--out DIR]

The two fixed clicks of ``scripts/whole_scan_results.py`` (air in front of the chest, mediastinal fat) are two
points; this draws many. In each CT of ``../shared/data/lidc3d``, voxels at least ``--margin-mm`` from every reader
mask are sorted into tissues by their Hounsfield value and place (:func:`tissue_map`), and ``--per-tissue`` clicks
per tissue and CT are drawn at random (``--seed``). Each goes through :func:`ssb_core.volume.segment_lesion` as a
click in the viewer does (8 candidates, the server's NFE, the app's growth settings, the presence vote). Per tissue:
the share of clicks answered "a lesion" and the mean number of candidates drawing anything. Writes ``results.json``
(every click) and ``results.md``.

A click on a vessel in the lung is the hard case: no LIDC reader outlined a vessel, but a vessel's cross-section is a
small bright disk, as a nodule's is. These CTs may hold findings no reader outlined (LIDC's readers outlined nodules
of 3 mm or more, and each CT has only the nodules the manifest lists): a "lesion" answer is not always wrong.
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
logger = logging.getLogger("negative_clicks")

#: the tissues clicked, in the order of the table
TISSUES = ("air outside the body", "lung parenchyma", "lung vessel", "fat", "soft tissue", "bone")


def tissue_map(volume_zyx: np.ndarray) -> np.ndarray:
    """(Z, Y, X) int8: the index in :data:`TISSUES` of every voxel of a chest CT in HU, -1 for none of them.

    The body is the largest component above -500 HU with its holes (the lungs) filled slice by slice; outside it,
    air at -1100..-900 HU (below: outside the reconstructed field of view). Inside it: the lungs (below -500 HU, not
    connected to the outside) are parenchyma below -700 HU, and vessel: a voxel above -300 HU of an island that the
    lung surrounds on its slice (partial-volume voxels between are left out); fat -150..-50, soft tissue 0..100,
    bone above 300 HU."""
    from scipy import ndimage

    v = np.asarray(volume_zyx, dtype=np.float32)
    dense = v > -500
    labels, count = ndimage.label(dense)
    if count == 0:
        return np.full(v.shape, -1, dtype=np.int8)
    body = labels == (int(np.argmax(np.bincount(labels.ravel())[1:])) + 1)
    body = np.stack([ndimage.binary_fill_holes(s) for s in body])
    lung = body & ~dense
    in_lung_structure = dense & np.stack([ndimage.binary_fill_holes(s) for s in lung])  # islands in the lung, per slice
    out = np.full(v.shape, -1, dtype=np.int8)
    out[~body & (v < -900) & (v > -1100)] = 0  # below -1100: outside the reconstructed field of view
    out[lung & (v < -700)] = 1
    out[in_lung_structure & (v > -300) & (v < 200)] = 2
    out[body & ~lung & (v >= -150) & (v <= -50)] = 3
    out[body & ~lung & (v >= 0) & (v <= 100) & ~in_lung_structure] = 4
    out[body & (v > 300)] = 5
    return out


def draw_clicks(tissues: np.ndarray, far: np.ndarray, per_tissue: int, rng: np.random.Generator) -> list[tuple[int, int, list[int]]]:
    """``per_tissue`` random voxels of each tissue where ``far`` (Z, Y, X) bool, away from the volume's first and
    last 8 slices: ``(tissue index, flat index, [i, j, k])``."""
    z = tissues.shape[0]
    allowed = far.copy()
    allowed[:8] = allowed[z - 8:] = False
    clicks = []
    for t in range(len(TISSUES)):
        idx = np.flatnonzero((tissues == t) & allowed)
        for flat in rng.choice(idx, size=min(per_tissue, idx.size), replace=False):
            k, j, i = np.unravel_index(int(flat), tissues.shape)
            clicks.append((t, int(flat), [int(i), int(j), int(k)]))
    return clicks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "ssb_lidc128.pt")
    ap.add_argument("--lidc3d", type=Path, default=REPO.parent / "shared" / "data" / "lidc3d")
    ap.add_argument("--per-tissue", type=int, default=8, help="clicks per tissue and CT")
    ap.add_argument("--margin-mm", type=float, default=15.0, help="the least distance of a click from any reader's mask")
    ap.add_argument("--readers", type=int, nargs="+", default=None,
                    help="the reader labels the 8 candidates cycle through (default: all the model's, as the app does)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch
    from scipy import ndimage

    sys.path.insert(0, str(REPO))
    from benchmarks.server_latency import server_sampling
    from ssb_core.evaluation.report import markdown_table
    from ssb_core.evaluation.whole_scan import click_model, load_lidc3d, read_volume
    from ssb_core.volume import GrowthSettings, plan_roi, segment_lesion

    torch.set_num_threads(args.threads)
    pipe, pre, config, labels = click_model(args.checkpoint, server_sampling()[1], readers=args.readers)
    settings = GrowthSettings()
    rng = np.random.default_rng(args.seed)
    by_ct: dict[Path, list] = {}
    for case in load_lidc3d(args.lidc3d):
        by_ct.setdefault(case.ct_path, []).extend(case.reader_paths)
    rows = []
    for ct_path, reader_paths in by_ct.items():
        volume, spacing = read_volume(ct_path)
        drawn = np.zeros(volume.shape, dtype=bool)
        for p in reader_paths:
            drawn |= read_volume(p)[0] > 0
        far = ndimage.distance_transform_edt(~drawn, sampling=spacing[::-1]) >= args.margin_mm
        for t, _, click in draw_clicks(tissue_map(volume), far, args.per_tissue, rng):
            plan = plan_roi(volume.shape, spacing, pre, foreground=[click])
            start = time.perf_counter()
            result = segment_lesion(pipe, pre, volume, spacing, plan, config, labels, args.seed, settings)
            seconds = time.perf_counter() - start
            drawing = int(result.masks.reshape(result.num_candidates, -1).any(axis=1).sum())
            lesion = bool(result.presence.lesion) if result.presence is not None else drawing * 2 >= result.num_candidates
            rows.append({"ct": ct_path.parent.name, "tissue": TISSUES[t], "click_ijk": click, "hu": float(volume[click[2], click[1], click[0]]),
                         "lesion": lesion, "candidates_drawing": drawing, "seconds": round(seconds, 2)})
            logger.info("%s %s at %s (%.0f HU): %s, %d drawing", rows[-1]["ct"], TISSUES[t], click, rows[-1]["hu"],
                        "a lesion" if lesion else "no lesion", drawing)
    table = []
    for tissue in TISSUES:
        rs = [r for r in rows if r["tissue"] == tissue]
        if rs:
            table.append([tissue, len(rs), f"{np.mean([r['lesion'] for r in rs]):.2f}",
                          f"{np.mean([r['candidates_drawing'] for r in rs]):.2f}"])
    text = markdown_table(["tissue", "clicks", "answered a lesion", "candidates drawing (of 8)"], table)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(text)
        (args.out / "results.json").write_text(json.dumps(
            {"command": " ".join(["python", "scripts/negative_clicks.py", *(argv if argv is not None else sys.argv[1:])]),
             "sampling": config.to_dict(), "reader_labels": labels, "clicks": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
