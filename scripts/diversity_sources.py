#!/usr/bin/env python
"""Where should the candidates' diversity come from? Each source the sampler offers, scored on a validation split.

For one SSB checkpoint, N candidates per image (default 8) at the server's NFE (default: ``server.conf``'s, 2) on
a validation split (default lidc128 val; ``--max-images`` spreads the run over fewer images), with every
combination of the sampler's sources of diversity (``ssb_core.candidates.SamplingConfig``, ``docs/method.md``):

- the noise path: the bridge SDE (fresh noise at every step) or the deterministic OT-ODE (``--noise sde ode``);
- the perturbation of the image endpoint, ``x_T = x1 + start_noise * z0`` (``--start-noise 0 0.1 0.2``);
- the reader label: the candidates cycling through the readers' labels at guidance weight ``w`` (``--guidance 0 1``),
  or every candidate with the null label (``--no-null`` leaves these out). Guidance does nothing with the null
  label (``(1 + w) eps(null) - w eps(null) = eps(null)``), so those rows have no ``w``. With the ODE, no start
  noise and the null label all N candidates are one mask: the floor of the table.

Every variant's candidates are scored against the readers with absent readers excluded and as empty masks (GED,
D_max), and by the shape figures (``docs/metrics.md``): the share of non-empty candidates that are one region without
holes, the share of empty candidates, and the candidates' median area over the readers'; the readers' row gives
their own leave-one-out GED / D_max and their one_region. Under the tables: each variant minus the checkpoint's
own settings (what the server samples with) with paired bootstrap 95% intervals over images. The point: choose
the source of diversity by all of these figures on the validation split, not by GED alone (a sampler can buy GED
with scattered or empty candidates).

    .venv/bin/python scripts/diversity_sources.py --checkpoint models/ssb_lidc128.pt --threads 2 \\
        --out                        # writes docs/results/decisions/diversity_sources/

Cost: the 18 variants of the default grid sample about 12 s per image at N 8, NFE 2 on one CPU thread shared with
two trainings (measured on 16 images; guidance doubles a variant's network calls), so about 4.5 h for the 1,316
validation images; ``--max-images 300`` takes about an hour.

Without ``--out`` nothing is written (the table is printed); ``--out`` alone writes
``docs/results/decisions/diversity_sources/``, ``--out DIR`` another folder: ``results.json`` (every row and image,
the checkpoint's and data's SHA-256, the command; ssb-evaluate's format), ``results.md`` (the full tables),
``summary.json`` (the figures below per variant) and ``README.md`` (the table and the paired differences).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "results" / "decisions" / "diversity_sources"
DEFAULT_DATA = f"{{format: lidc128, path: '{REPO.parent / 'shared' / 'data' / 'lidc128' / 'val.npz'}'}}"
logger = logging.getLogger("diversity_sources")

FIGURES = ("ged", "d_max", "one_region", "empty", "area_ratio")
TABLE_NOTE = (
    "One region: the share of non-empty candidates that are one region without holes (readers: their own masks). "
    "Empty: the share of empty candidates, right where the readers saw nothing: compare it with the readers' share. "
    "Area: the candidates' median area over the readers' (1 = the readers' size), mean over images and, in brackets, "
    "the median over images (a mean of ratios is pulled up by a few images). Seconds per image: sampling only.\n"
)


@dataclass(frozen=True)
class Variant:
    """One setting of the sampler's sources of diversity; ``guidance`` is None with the null label."""

    stochastic: bool
    start_noise: float
    null_label: bool
    guidance: float | None

    @property
    def name(self) -> str:
        readers = "null label" if self.null_label else f"reader labels, w {self.guidance:g}"
        return f"{'SDE' if self.stochastic else 'ODE'}, start {self.start_noise:g}, {readers}"

    def cells(self) -> list[str]:
        return ["SDE" if self.stochastic else "ODE", f"{self.start_noise:g}", "null" if self.null_label else "cycling",
                "–" if self.guidance is None else f"{self.guidance:g}"]


def variants(noise: list[str], start_noise: list[float], guidance: list[float], null: bool, reference: Variant) -> list[Variant]:
    """The grid (the reference first, added when the grid lacks it)."""
    labels = [(False, w) for w in guidance] + ([(True, None)] if null else [])
    grid = [Variant(n == "sde", float(s), lab, w) for n, s, (lab, w) in itertools.product(noise, start_noise, labels)]
    return [reference] + [v for v in grid if v != reference]


def figures(rows: list, name: str) -> dict[str, float]:
    """GED and D_max under each absent-reader convention and the shape figures of one row name (``area_ratio`` also
    as the median over images: a mean of ratios is pulled up by a few images)."""
    by = {r.absent_reader: r for r in rows if r.name == name}
    summary = {c: r.summary for c, r in by.items()}
    out = {f"{m}_{c}": summary[c].get(m, math.nan) for c in ("exclude", "empty") for m in ("ged", "d_max")}
    out.update({m: summary["exclude"].get(m, math.nan) for m in ("one_region", "empty", "area_ratio")})
    out["area_ratio_median"] = by["exclude"].median("area_ratio")
    out["time_per_image_s"] = summary["exclude"].get("time_per_image_s", math.nan)
    return out


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def summary_table(summary: dict) -> str:
    """One line per variant, then the readers' reference."""
    from ssb_core.evaluation.report import markdown_table

    header = ["noise path", "start noise", "reader label", "guidance w", "GED ↓ (excluded)", "D_max ↑ (excluded)",
              "GED ↓ (as empty)", "D_max ↑ (as empty)", "one region ↑", "empty", "area / readers' (median)", "s / image"]
    keys = ["ged_exclude", "d_max_exclude", "ged_empty", "d_max_empty", "one_region", "empty", "area_ratio"]
    lines = []
    for v in summary["variants"]:
        mark = " (checkpoint's)" if v["name"] == summary["reference"] else ""
        cells = Variant(**v["settings"]).cells()
        area = f"{_fmt(v['area_ratio'])} ({_fmt(v['area_ratio_median'])})"
        lines.append([cells[0] + mark, *cells[1:], *(_fmt(v[k]) for k in keys[:-1]), area, _fmt(v["time_per_image_s"], 2)])
    r = summary["readers"]
    lines.append(["Readers (leave-one-out)", "", "", "", *(_fmt(r[k]) for k in keys[:6]), "", ""])
    return markdown_table(header, lines)


def differences(rows: list, reference: str) -> str:
    """Each variant minus the reference, paired over images: GED and D_max per convention, the shape figures once."""
    from ssb_core.evaluation.bootstrap import compare_rows
    from ssb_core.evaluation.report import CONVENTION_TITLES, differences_table
    from ssb_core.evaluation.tables import READERS_ROW

    parts = []
    for convention, metrics in (("exclude", FIGURES[:4]), ("empty", FIGURES[:2])):
        by = {r.name: r for r in rows if r.absent_reader == convention and r.name != READERS_ROW}
        diffs = [(f"{name} − {reference}", compare_rows(row, by[reference], metrics)) for name, row in by.items() if name != reference]
        parts.append(differences_table(diffs, f"Each variant − the checkpoint's settings, {CONVENTION_TITLES[convention]}"))
    return "\n".join(parts)


def sampler_specs(checkpoint: Path, grid_args: argparse.Namespace, nfe: int) -> tuple[list, list[Variant], Variant, str]:
    """One :class:`~ssb_core.evaluation.samplers.SamplerSpec` per variant of the grid; also the grid, the reference
    (the checkpoint's own settings) and the checkpoint's SHA-256."""
    from ssb_core.evaluation.samplers import pipeline_sampler
    from ssb_core.hashing import file_sha256
    from ssb_core.pipeline import SSBPipeline

    pipe = SSBPipeline.from_checkpoint(checkpoint, runtime="auto")
    d = pipe.defaults
    reference = Variant(bool(d.stochastic), float(d.start_noise), False, float(d.guidance_weight))
    grid = variants(grid_args.noise, grid_args.start_noise, grid_args.guidance, not grid_args.no_null, reference)
    sha = file_sha256(checkpoint)
    specs = [pipeline_sampler(pipe, nfe, stochastic=v.stochastic, start_noise=v.start_noise, guidance_weight=v.guidance or 0.0,
                              readers=pipe.num_readers if v.null_label else None, name=v.name, checkpoint_sha256=sha) for v in grid]
    return specs, grid, reference, sha


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "ssb_lidc128.pt")
    ap.add_argument("--data", default=DEFAULT_DATA, help="dataset config (inline YAML/JSON or a file; default lidc128 val)")
    ap.add_argument("--max-images", type=int, help="this many images spread evenly over the split (default: all)")
    ap.add_argument("--nfe", type=int, help="network evaluations per candidate (default: the server's, server.conf)")
    ap.add_argument("-n", "--num-candidates", type=int, default=8)
    ap.add_argument("--noise", nargs="+", choices=["sde", "ode"], default=["sde", "ode"])
    ap.add_argument("--start-noise", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    ap.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0], help="weights with the reader labels")
    ap.add_argument("--no-null", action="store_true", help="leave out the null-label variants")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--montages", type=int, default=2, help="montages of the first K images per variant (with --out)")
    ap.add_argument("--out", type=Path, nargs="?", const=DEFAULT_OUT,
                    help=f"write the results here (alone: {DEFAULT_OUT.relative_to(REPO)}); default: print only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    sys.path[:0] = [str(REPO), str(REPO / "scripts")]
    from benchmarks.server_latency import server_sampling
    from compare_methods import model_data_config
    from ssb_core.cli.evaluate import data_config_from_text
    from ssb_core.data import build_dataset
    from ssb_core.evaluation import evaluate_samplers
    from ssb_core.evaluation.provenance import dataset_record
    from ssb_core.evaluation.runner import spread_indices
    from ssb_core.evaluation.tables import READERS_ROW

    torch.set_num_threads(args.threads)
    nfe = args.nfe or server_sampling()[1]
    specs, grid, reference, sha = sampler_specs(args.checkpoint, args, nfe)
    config = model_data_config(data_config_from_text(args.data), args.checkpoint)
    dataset = build_dataset(config)
    indices = spread_indices(len(dataset), args.max_images or len(dataset))
    logger.info("%d variants x %d images, N %d, NFE %d", len(grid), len(indices), args.num_candidates, nfe)
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        rows = evaluate_samplers(specs, dataset, out, num_candidates=args.num_candidates, seed=args.seed, indices=indices,
                                 absent_reader=("exclude", "empty"), inter_reader=True, shape=True,
                                 montages=args.montages if args.out else 0, progress=sys.stderr.isatty(),
                                 dataset_info=dataset_record(config, len(indices)),
                                 title=f"{args.checkpoint.name}: sources of diversity, NFE {nfe}, N {args.num_candidates}")
        summary = {"checkpoint": args.checkpoint.name, "checkpoint_sha256": sha, "images": len(indices), "nfe": nfe,
                   "num_candidates": args.num_candidates, "seed": args.seed, "reference": reference.name,
                   "variants": [{"name": v.name, "settings": asdict(v), **figures(rows, v.name)} for v in grid],
                   "readers": figures(rows, READERS_ROW)}
        title = f"### {len(indices)} images of {Path(str(config.get('path', 'data'))).name}, N = {args.num_candidates}, NFE {nfe}, seed {args.seed}\n"
        text = "\n".join([title, summary_table(summary), TABLE_NOTE, differences(rows, reference.name)])
        if args.out:
            (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            (out / "README.md").write_text(text)
            logger.info("wrote %s", out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
