"""``ssb-evaluate``: sample N candidates per image at one or more NFE and score them; JSON + markdown + PNGs.

Examples::

    ssb-evaluate --checkpoint models/ssb_lidc64.pt --recipe configs/lidc64_cpu.yaml --split test --nfe 10 50
    ssb-evaluate --checkpoint models/ssb_lidc64.pt --data '{format: lidc64, path: ../shared/data/lidc64/test.npz}' \\
        --num-candidates 16 --nfe 50 --inter-reader --output-dir runs/eval

``--data`` is a dataset config for :func:`ssb_core.data.build_dataset`: inline YAML/JSON, or a .yaml/.json
file holding one. Writes ``results.json``, ``results.md`` and ``montages/<case>_<method>_nfe<k>.png`` into
``--output-dir``; prints the markdown table. Exit codes: 0 done, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssb_core.cli._common import run_cli, setup_logging

__all__ = ["main", "build_parser", "data_config_from_text"]


def _unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssb-evaluate", description="Evaluate an SSB checkpoint on a multi-reader dataset.")
    p.add_argument("--checkpoint", "-m", required=True, help="model checkpoint (.pt): SSB, or a baseline trained with method gaussian / prob_unet")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset config for build_dataset: inline YAML/JSON or a .yaml/.json file")
    src.add_argument("--recipe", help="a training recipe; its data.<--split> config is evaluated")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="with --recipe (default: test)")
    p.add_argument("--nfe", type=int, nargs="+", default=[50],
                   help="one row per NFE (default: 50); the Gaussian baseline uses DDPM at its T (1000), DDIM below; the Prob. U-Net ignores it")
    p.add_argument("--num-candidates", "-n", type=int, default=16, help="candidates per image (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed, recorded (default: 0)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance weight (default: the checkpoint's)")
    p.add_argument("--start-noise", type=float, help="perturbation of the image endpoint (default: the checkpoint's)")
    p.add_argument("--eta", type=_unit_interval, default=1.0,
                   help="Gaussian baseline below T steps: DDIM eta (1 = fresh noise each step, default; 0 = deterministic)")
    p.add_argument("--ode", action="store_true", help="deterministic OT-ODE sampler instead of the bridge SDE")
    p.add_argument("--no-presence", action="store_true",
                   help="score every candidate's outline under both conventions, without the checkpoint's presence head "
                        "(default: with a head, absent readers as empty masks score the candidates it keeps)")
    p.add_argument("--reader", help="imitate one reader (name or index) for every candidate; default: cycle through readers")
    p.add_argument("--name", default="SSB", help="method name in the table (default: SSB)")
    p.add_argument("--max-images", type=int, help="only the first K images")
    p.add_argument("--batch-size", type=int, default=8, help="images per sampling call (default: 8)")
    p.add_argument("--absent-reader", choices=["exclude", "empty", "both"], default="both",
                   help="absent reader: left out, an empty mask (Kohl et al. 2018 convention), or both (default: the "
                        "same candidates scored both ways, one row each)")
    p.add_argument("--inter-reader", action="store_true", help="add the readers' leave-one-out row (human reference)")
    p.add_argument("--shape", action="store_true",
                   help="add the shape figures: share of non-empty candidates that are one region without holes, share "
                        "of empty candidates, median candidate area / median reader area (docs/metrics.md); the readers' "
                        "own one_region in their row")
    p.add_argument("--montages", type=int, help="montages for the first K cases (default: every case; 0 = none)")
    p.add_argument("--variability", choices=["variability", "entropy"], default="variability",
                   help="map of the montages: 4 f (1 - f), the app's definition (default), or the vote's entropy")
    p.add_argument("--output-dir", "-o", help="default: runs/eval/<checkpoint stem>")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def data_config_from_text(text: str, option: str = "--data") -> dict:
    """A dataset config for :func:`ssb_core.data.build_dataset` from inline YAML/JSON or a .yaml/.json file holding
    one; a :class:`~ssb_core.training.config.ConfigError` naming ``option`` when it is not a mapping."""
    from ssb_core.training.config import ConfigError, yaml_load

    given = text
    if Path(text).suffix in (".yaml", ".yml", ".json") and Path(text).is_file():
        text = Path(text).read_text()
    try:
        config = yaml_load(text)
    except Exception as exc:
        raise ConfigError(f"{option} is not a YAML/JSON mapping: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{option} must be a dataset config mapping (e.g. '{{format: lidc64, path: test.npz}}'), got {given!r}")
    return config


def _dataset_config(args: argparse.Namespace) -> dict:
    from ssb_core.training.config import ConfigError, load_config

    if args.recipe:
        config = getattr(load_config(args.recipe).data, args.split)
        if not config:
            raise ConfigError(f"the recipe {args.recipe} has no data.{args.split}")
        return dict(config)
    return data_config_from_text(args.data)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    import torch

    from ssb_core.evaluation.api import evaluate, evaluate_baseline
    from ssb_core.evaluation.provenance import dataset_record, run_record, shorten_paths
    from ssb_core.pipeline import SSBPipeline
    from ssb_core.training.setup import build_from_config

    if args.threads:
        torch.set_num_threads(args.threads)
    from ssb_core.baselines.checkpoint import BASELINE_FORMAT, checkpoint_format

    baseline = checkpoint_format(args.checkpoint) == BASELINE_FORMAT  # also fails fast on a bad file
    pipeline = None if baseline else SSBPipeline.from_checkpoint(args.checkpoint, device=args.device)
    data_config = _dataset_config(args)
    dataset = build_from_config(data_config, "--recipe data" if args.recipe else "--data")
    n = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    out = Path(args.output_dir or Path("runs") / "eval" / Path(args.checkpoint).stem)
    reader = args.reader
    if reader is not None and reader.isdigit():
        reader = int(reader)
    common = dict(
        num_candidates=args.num_candidates,
        seed=args.seed,
        indices=list(range(n)),
        batch_size=args.batch_size,
        absent_reader=("exclude", "empty") if args.absent_reader == "both" else args.absent_reader,
        inter_reader=args.inter_reader,
        shape=args.shape,
        montages=args.montages,
        variability=args.variability,
        dataset_info=dataset_record(data_config, n),
        run=run_record(["ssb-evaluate", *(sys.argv[1:] if argv is None else argv)]),
        progress=not args.no_progress and sys.stderr.isatty(),
        title=f"{Path(args.checkpoint).name} on {shorten_paths(str(data_config.get('path', data_config)))}",
    )
    if baseline:
        rows = evaluate_baseline(args.checkpoint, dataset, out, nfes=args.nfe, guidance_weight=args.guidance or 0.0,
                                 name=None if args.name == "SSB" else args.name, device=args.device, eta=args.eta, **common)
    else:
        rows = evaluate(pipeline, dataset, out, nfes=args.nfe, guidance_weight=args.guidance, start_noise=args.start_noise,
                        stochastic=False if args.ode else None, readers=reader, name=args.name, checkpoint_path=args.checkpoint,
                        presence=False if args.no_presence else None, **common)
    from ssb_core.evaluation.report import results_tables

    print(results_tables(rows))
    print(f"results: {out / 'results.json'}, {out / 'results.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv), "ssb-evaluate")


if __name__ == "__main__":
    sys.exit(main())
