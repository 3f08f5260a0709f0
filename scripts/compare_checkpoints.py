#!/usr/bin/env python
"""Two SSB checkpoints on the same slices: metrics of each and the paired bootstrap interval of their difference.

Used to decide whether a training change is adopted (on the validation split, never the test split):

    .venv/bin/python scripts/compare_checkpoints.py runs/a/ssb_lidc64.pt models/ssb_lidc64.pt \\
        --data ../shared/data/lidc64/val.npz --nfe 2 20 --out docs/results/decisions/dice_clamp

Writes ``<out>/results.json`` (both checkpoints' rows, both absent-reader conventions, with their SHA-256) and
``<out>/README.md`` (the tables and, per NFE and convention, A − B with its 95% interval).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="checkpoint A (the candidate change)")
    ap.add_argument("b", type=Path, help="checkpoint B (the reference)")
    ap.add_argument("--names", nargs=2, default=["A", "B"], help="row names of A and B")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lidc64" / "val.npz")
    ap.add_argument("--nfe", type=int, nargs="+", default=[2, 20])
    ap.add_argument("-n", "--num-candidates", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from ssb_core.data import build_dataset
    from ssb_core.evaluation import evaluate_samplers
    from ssb_core.evaluation.bootstrap import compare_rows
    from ssb_core.evaluation.provenance import dataset_record
    from ssb_core.evaluation.report import CONVENTION_TITLES, differences_table, results_tables
    from ssb_core.evaluation.samplers import pipeline_sampler
    from ssb_core.hashing import file_sha256
    from ssb_core.pipeline import SSBPipeline

    torch.set_num_threads(args.threads)
    dataset = build_dataset({"format": "lidc64", "path": str(args.data)})
    specs = []
    for path, name in zip((args.a, args.b), args.names):
        pipe = SSBPipeline.from_checkpoint(path, runtime="auto")
        specs += [pipeline_sampler(pipe, n, name=name, checkpoint_sha256=file_sha256(path)) for n in args.nfe]
    rows = evaluate_samplers(specs, dataset, args.out, num_candidates=args.num_candidates, seed=args.seed, montages=0,
                             absent_reader=("exclude", "empty"), progress=sys.stderr.isatty(),
                             dataset_info=dataset_record({"format": "lidc64", "path": args.data}, len(dataset)))
    parts = [results_tables(rows, f"{args.data.name}, N = {args.num_candidates}, seed {args.seed}")]
    for convention in ("exclude", "empty"):
        by = {(r.name, r.nfe): r for r in rows if r.absent_reader == convention}
        diffs = [(f"{args.names[0]} − {args.names[1]}, NFE {n}", compare_rows(by[(args.names[0], n)], by[(args.names[1], n)]))
                 for n in args.nfe]
        parts.append(differences_table(diffs, CONVENTION_TITLES[convention]))
    readme = args.out / "README.md"
    readme.write_text("\n".join(parts))
    print(readme.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
