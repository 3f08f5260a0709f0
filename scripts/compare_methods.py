#!/usr/bin/env python
"""The results table of issue #4: SSB against its baselines and the readers, same data, same N, one run.

Evaluates, on a multi-reader split (default: lidc64 test, 155 slices), with N candidates per image (default 8)
and one seed:

- table 1, every image: SSB at each ``--ssb-nfe`` (default 1 2 5 10 20 50), the Gaussian-start baseline with
  DDIM at ``--gaussian-nfe`` (default 50), the Probabilistic U-Net, and the readers' leave-one-out reference;
- table 2 (with the Gaussian baseline), ``--subset`` images spread evenly over the split (default 16): the
  Gaussian-start baseline with DDPM at its full 1000 steps (hours over the whole split on 2 CPU cores), beside
  DDIM 50, SSB at ``--subset-ssb-nfe`` and the Prob. U-Net on the same images, so the 1000-step row has a
  fair comparison.

Writes ``<out>/all-<methods>/results.{json,md}``, ``<out>/subset/results.{json,md}`` (ssb-evaluate's
format, montages of the first cases) and ``<out>/README.md`` with both tables, merged over every run written
into ``<out>`` (so methods can be evaluated in separate runs, e.g. while a baseline is still training). Networks run on ONNX Runtime where installed (the
timing column), PyTorch otherwise; outputs are the same either way.

    .venv/bin/python scripts/compare_methods.py --gaussian models/baselines/gaussian_lidc64.pt \\
        --prob-unet models/baselines/prob_unet_lidc64.pt --out docs/results/lidc64_test
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("compare_methods")


def specs_for(args: argparse.Namespace, ssb_nfes: list[int], gaussian_nfes: list[int | None], methods: list[str]) -> list:
    from ssb_core.baselines.checkpoint import load_baseline
    from ssb_core.evaluation.samplers import baseline_sampler, pipeline_sampler
    from ssb_core.pipeline import SSBPipeline

    specs = []
    if "ssb" in methods:
        pipe = SSBPipeline.from_checkpoint(args.ssb, runtime=args.runtime)
        specs += [pipeline_sampler(pipe, n, name="SSB") for n in ssb_nfes]
    if "gaussian" in methods:
        g = load_baseline(args.gaussian)
        specs += [baseline_sampler(g, n, runtime=args.runtime, name="Gaussian-start diffusion" + (" (DDPM)" if n is None else " (DDIM)"))
                  for n in gaussian_nfes]
    if "prob_unet" in methods and args.prob_unet:
        specs.append(baseline_sampler(load_baseline(args.prob_unet), None, name="Prob. U-Net"))
    return specs


_ORDER = ("SSB", "Gaussian-start diffusion (DDIM)", "Gaussian-start diffusion (DDPM)", "Prob. U-Net", "Readers (leave-one-out)")


def merged_table(folders: list[Path], title: str) -> str:
    """One markdown table from the results.json of several runs on the same images (rows deduplicated by
    method and NFE, ordered SSB by NFE, the Gaussian baseline, the Prob. U-Net, the readers)."""
    from ssb_core.evaluation.report import markdown_table
    from ssb_core.evaluation.runner import EvaluationResult

    rows: dict[tuple, EvaluationResult] = {}
    for folder in folders:
        for row in json.loads((folder / "results.json").read_text())["rows"]:
            rows.setdefault((row["name"], row["nfe"]), EvaluationResult(**row))
    order = sorted(rows, key=lambda k: (_ORDER.index(k[0]) if k[0] in _ORDER else len(_ORDER), k[1] or 0))
    return markdown_table([rows[k] for k in order], title)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ssb", type=Path, default=REPO / "models" / "ssb_lidc64.pt")
    p.add_argument("--gaussian", type=Path, help="a checkpoint trained with method: gaussian")
    p.add_argument("--prob-unet", type=Path, help="a checkpoint trained with method: prob_unet")
    p.add_argument("--methods", nargs="+", choices=["ssb", "gaussian", "prob_unet"],
                   help="evaluate only these (default: SSB and every baseline given); runs into the same --out are merged")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "lidc64" / "test.npz"), help="lidc64-format .npz")
    p.add_argument("--ssb-nfe", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50])
    p.add_argument("--gaussian-nfe", type=int, nargs="+", default=[50])
    p.add_argument("--subset", type=int, default=16, help="images for table 2 (the 1000-step DDPM row); 0 = no table 2")
    p.add_argument("--subset-ssb-nfe", type=int, nargs="+", default=[5, 50])
    p.add_argument("-n", "--num-candidates", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runtime", default="auto", choices=["auto", "torch", "onnx"])
    p.add_argument("--absent-reader", default="exclude", choices=["exclude", "empty"],
                   help="absent readers left out (default) or counted as empty masks (Kohl et al.); the output folders "
                        "of 'empty' end in -absent-empty")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--montages", type=int, default=4)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "compare")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from ssb_core.data import build_dataset
    from ssb_core.evaluation import evaluate_samplers

    if args.methods is None:
        args.methods = ["ssb"] + (["gaussian"] if args.gaussian else []) + (["prob_unet"] if args.prob_unet else [])
    for method, path in (("gaussian", args.gaussian), ("prob_unet", args.prob_unet)):
        if method in args.methods and path is None:
            p.error(f"--methods {method} needs --{method.replace('_', '-')} CHECKPOINT")
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = build_dataset({"format": "lidc64", "path": args.data})
    common = dict(num_candidates=args.num_candidates, seed=args.seed, inter_reader=True, montages=args.montages,
                  absent_reader=args.absent_reader,
                  dataset_info={"path": Path(args.data).name, "images": len(dataset)}, progress=sys.stderr.isatty())
    tag = "+".join(args.methods) + ("-absent-empty" if args.absent_reader == "empty" else "")
    evaluate_samplers(specs_for(args, args.ssb_nfe, args.gaussian_nfe, args.methods), dataset, args.out / f"all-{tag}", **common)
    k = min(args.subset, len(dataset))
    indices = sorted({round(i * (len(dataset) - 1) / max(1, k - 1)) for i in range(k)})
    if k > 0 and "gaussian" in args.methods:
        # every method on the subset, so the 1000-step row is compared on the same images
        evaluate_samplers(specs_for(args, args.subset_ssb_nfe, [None, *args.gaussian_nfe], ["ssb", "gaussian", "prob_unet"]), dataset,
                          args.out / "subset", indices=indices, **common)
    sections = []
    for empty in (False, True):  # one table per absent-reader convention, never merged across them
        folders = sorted(f for f in args.out.glob("all-*") if f.name.endswith("-absent-empty") == empty)
        if folders:
            sections.append(merged_table(folders, f"All {len(dataset)} images of {Path(args.data).name}, N = {args.num_candidates} "
                                         f"candidates per image, seed {args.seed}, absent readers "
                                         f"{'as empty masks' if empty else 'excluded'}"))
    subsets = sorted(args.out.glob("subset"))
    if subsets:
        sections.append(merged_table(subsets, f"{k} images spread evenly over the split (indices {indices}), N = {args.num_candidates}"))
    text = "\n".join(sections)
    (args.out / "README.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
