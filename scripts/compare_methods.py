#!/usr/bin/env python
"""The results tables: SSB against its baselines and the readers, same data, same N, one seed, both conventions.

Evaluates, on a multi-reader split (default: lidc64 test, 155 slices), with N candidates per image (default 8)
and one seed, scoring the same candidates with absent readers excluded and as empty masks (Kohl et al.):

- table 1, every image: SSB at each ``--ssb-nfe`` (default 1 2 5 20 50), the Gaussian-start baseline with
  DDIM at ``--gaussian-nfe`` (default 50) and ``--gaussian-eta`` (default 1), the Probabilistic U-Net, and the
  readers' leave-one-out reference;
- table 2, ``--subset`` images spread evenly over the split (default 16): the
  Gaussian-start baseline with DDPM at its full 1000 steps (hours over the whole split on 2 CPU cores), beside
  DDIM with eta 0 and 1, SSB at ``--subset-ssb-nfe`` and the Prob. U-Net on the same images, so the 1000-step
  row has a fair comparison;
- under each table, paired bootstrap 95% intervals (over images) of the differences its claims rest on.

Writes ``<out>/<tag>[-<methods>]/results.{json,md}`` (table 1; ``--tag``, default ``all``),
``<out>/subset[-<methods>]/results.{json,md}`` (ssb-evaluate's format: every row carries its checkpoint's and data
file's SHA-256; montages of the first cases for every method) and ``<out>/README.md`` with the tables, merged over
every run written into ``<out>`` (so methods can be evaluated in separate runs, and table 1 at several N under
several tags); the merge refuses rows from other data or other weights (:mod:`ssb_core.evaluation.tables`).
Networks run on ONNX Runtime where installed (the timing column), PyTorch otherwise; outputs are the same.
``--format`` reads another multi-reader split (e.g. ``lidc128``), ``--max-images`` spreads table 1 over fewer
images, ``--shape`` adds the shape figures (one region without holes, empty candidates, area against the readers').

    .venv/bin/python scripts/compare_methods.py --gaussian models/baselines/gaussian_lidc64.pt \\
        --prob-unet models/baselines/prob_unet_lidc64.pt --out docs/results/lidc64_test
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("compare_methods")


def gaussian_name(nfe: int | None, eta: float) -> str:
    return "Gaussian-start diffusion " + ("(DDPM)" if nfe is None else f"(DDIM η={eta:g})")


def specs_for(args: argparse.Namespace, ssb_nfes: list[int], gaussian_runs: list[tuple[int | None, float]], methods: list[str]) -> list:
    """The samplers: SSB at each NFE, the Gaussian baseline at each (NFE or None = DDPM, DDIM eta), the Prob. U-Net."""
    from ssb_core.baselines.checkpoint import load_baseline
    from ssb_core.evaluation.samplers import baseline_sampler, pipeline_sampler
    from ssb_core.hashing import file_sha256
    from ssb_core.pipeline import SSBPipeline

    specs = []
    if "ssb" in methods:
        pipe = SSBPipeline.from_checkpoint(args.ssb, runtime=args.runtime)
        specs += [pipeline_sampler(pipe, n, name="SSB", checkpoint_sha256=file_sha256(args.ssb)) for n in ssb_nfes]
    if "gaussian" in methods:
        g, sha = load_baseline(args.gaussian), file_sha256(args.gaussian)
        specs += [baseline_sampler(g, n, runtime=args.runtime, checkpoint_sha256=sha, eta=eta, name=gaussian_name(n, eta))
                  for n, eta in gaussian_runs]
    if "prob_unet" in methods and args.prob_unet:
        specs.append(baseline_sampler(load_baseline(args.prob_unet), None, name="Prob. U-Net", checkpoint_sha256=file_sha256(args.prob_unet)))
    return specs


def model_data_config(config: dict, checkpoint: Path) -> dict:
    """``config`` as the SSB ``checkpoint`` sees its images: lidc128 crops are resampled to the window and pixel size
    its recorded preprocessing names (unless the config sets them), so every method is scored on the model's windows."""
    from ssb_core.checkpoint import load_checkpoint
    from ssb_core.preprocessing import Preprocessing

    if config.get("format") != "lidc128":
        return dict(config)
    pre = Preprocessing.from_checkpoint_data(load_checkpoint(checkpoint).data)
    return {**config, "window": config.get("window", pre.roi_size[0]), "spacing_mm": config.get("spacing_mm", pre.spacing_mm[0])}


SIDE_TAGS = ("sweep",)  # runs on another set of images than table 1's (results.py's lidc128 NFE sweep): not table 1


def main_tables(out: Path) -> dict[str, list[Path]]:
    """Table 1's runs in ``out`` by tag (``all``, ``n16`` ...: a folder name up to its first ``-``), subsets left out."""
    from ssb_core.evaluation.tables import run_folders

    tags = sorted({f.name.split("-")[0] for f in run_folders(out, "")} - {"subset", *SIDE_TAGS}, key=lambda t: (t != "all", t))
    return {tag: [f for f in run_folders(out, tag) if f.name.split("-")[0] == tag] for tag in tags}


def main_title(folders: list[Path], data_name: str, total: int, several: bool) -> tuple[str, str]:
    """Title and short label of a table 1 from its rows: its images (all of the split, or spread over it), N, seed;
    the short label names N when ``several`` tables share the README."""
    from ssb_core.evaluation.tables import READERS_ROW, load_rows

    rows = load_rows(folders)
    method = next(r for r in rows if r.name != READERS_ROW)
    images = len(method)
    what = f"All {images} images of {data_name}" if images == total else f"{images} images spread evenly over {data_name}"
    short = (f"all {images} images" if images == total else f"{images} images") + (f", N = {method.num_candidates}" if several else "")
    return f"{what}, N = {method.num_candidates} candidates per image, seed {method.seed}", short


def table_section(folders: list[Path], title: str, short: str) -> str:
    """The markdown of one table (per convention) and its paired differences, from the runs in ``folders``."""
    from ssb_core.evaluation.report import CONVENTION_TITLES, differences_table, results_tables
    from ssb_core.evaluation.tables import headline_differences, load_rows, ordered

    rows = ordered(load_rows(folders))
    parts = [results_tables(rows, title)]
    for convention in dict.fromkeys(r.absent_reader for r in rows):
        diffs = headline_differences([r for r in rows if r.absent_reader == convention])
        if diffs:
            parts.append(differences_table(diffs, f"Paired differences, {short}, {CONVENTION_TITLES[convention]}"))
    shas = sorted({f"{r.name}: `{r.checkpoint_sha256[:12]}`" for r in rows if r.checkpoint_sha256})
    data = {r.dataset_sha256 for r in rows}
    parts.append(f"Weights (SHA-256, first 12 hex): {', '.join(shas)}; data file SHA-256 `{next(iter(data))}`.\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ssb", type=Path, default=REPO / "models" / "ssb_lidc64.pt")
    p.add_argument("--gaussian", type=Path, help="a checkpoint trained with method: gaussian")
    p.add_argument("--prob-unet", type=Path, help="a checkpoint trained with method: prob_unet")
    p.add_argument("--methods", nargs="+", choices=["ssb", "gaussian", "prob_unet"],
                   help="evaluate only these (default: SSB and every baseline given); runs into the same --out are merged")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "lidc64" / "test.npz"), help="a split's .npz")
    p.add_argument("--format", default="lidc64", help="its dataset format (ssb_core.data.build_dataset; default lidc64)")
    p.add_argument("--ssb-nfe", type=int, nargs="+", default=[1, 2, 5, 20, 50])
    p.add_argument("--gaussian-nfe", type=int, nargs="+", default=[50])
    p.add_argument("--gaussian-eta", type=float, nargs="+", default=[1.0],
                   help="DDIM eta of the Gaussian baseline below 1000 steps, one row each (1 = stochastic, DDPM's variance; "
                        "0 = deterministic; see docs/baselines.md for why 0 fails with this network)")
    p.add_argument("--subset-gaussian-eta", type=float, nargs="+", default=[0.0, 1.0])
    p.add_argument("--subset", type=int, default=16, help="images for table 2 (the 1000-step DDPM row); 0 = no table 2")
    p.add_argument("--subset-ssb-nfe", type=int, nargs="+", default=[5, 50])
    p.add_argument("--tag", default="all", help="table 1's run folder prefix (several N: one tag each; default all)")
    p.add_argument("--max-images", type=int, help="table 1 on this many images spread evenly over the split (default: all)")
    p.add_argument("--shape", action="store_true", help="add the shape figures (docs/metrics.md) to every row")
    p.add_argument("-n", "--num-candidates", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runtime", default="auto", choices=["auto", "torch", "onnx"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--montages", type=int, default=4)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "compare")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from ssb_core.data import build_dataset
    from ssb_core.evaluation import evaluate_samplers
    from ssb_core.evaluation.provenance import dataset_record
    from ssb_core.evaluation.runner import spread_indices
    from ssb_core.evaluation.tables import run_folders

    if args.methods is None:
        args.methods = ["ssb"] + (["gaussian"] if args.gaussian else []) + (["prob_unet"] if args.prob_unet else [])
    for method, path in (("gaussian", args.gaussian), ("prob_unet", args.prob_unet)):
        if method in args.methods and path is None:
            p.error(f"--methods {method} needs --{method.replace('_', '-')} CHECKPOINT")
    if "-" in args.tag or args.tag.startswith("subset") or not args.tag:
        p.error(f"--tag: expected a folder prefix without '-' other than 'subset', got {args.tag!r}")
    if args.threads:
        torch.set_num_threads(args.threads)
    data_config = model_data_config({"format": args.format, "path": args.data}, args.ssb)
    dataset = build_dataset(data_config)
    common = dict(num_candidates=args.num_candidates, seed=args.seed, inter_reader=True, montages=args.montages,
                  absent_reader=("exclude", "empty"), progress=sys.stderr.isatty(), shape=args.shape,
                  dataset_info=dataset_record(data_config, len(dataset)))
    tag = args.tag if set(args.methods) == {"ssb", "gaussian", "prob_unet"} else f"{args.tag}-" + "+".join(args.methods)
    runs = [(n, eta) for n in args.gaussian_nfe for eta in args.gaussian_eta]
    main_indices = None if args.max_images is None else spread_indices(len(dataset), args.max_images)
    evaluate_samplers(specs_for(args, args.ssb_nfe, runs, args.methods), dataset, args.out / tag, indices=main_indices, **common)
    k = min(args.subset, len(dataset))
    indices = spread_indices(len(dataset), k)
    if k > 0:
        # the methods on the subset, so the 1000-step row is compared with the others on the same images
        runs = [(None, 1.0)] + [(n, eta) for n in args.gaussian_nfe for eta in args.subset_gaussian_eta]
        evaluate_samplers(specs_for(args, args.subset_ssb_nfe, runs, args.methods), dataset,
                          args.out / tag.replace(args.tag, "subset", 1), indices=indices, **common)
    sections = []
    tables = main_tables(args.out)
    for folders in tables.values():
        sections.append(table_section(folders, *main_title(folders, Path(args.data).name, len(dataset), len(tables) > 1)))
    subsets = run_folders(args.out, "subset")
    if subsets:
        sections.append(table_section(subsets, f"{k} images spread evenly over the split (indices {indices}), "
                                               f"N = {args.num_candidates}", f"the {k}-image subset"))
    text = "\n".join(sections)
    (args.out / "README.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
