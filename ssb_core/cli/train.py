"""``ssb-train``: train an SSB network from a recipe (YAML/JSON) with ``--set section.key=value`` overrides.

Examples::

    ssb-train --config configs/lidc64_cpu.yaml
    ssb-train --config configs/lidc64_cpu.yaml --set train.max_steps=200 --set train.lr=1e-4 --resume
    torchrun --nproc_per_node 4 -m ssb_core.cli.train --config configs/lidc_crops_gpu.yaml

Exit codes: 0 done, 2 bad input (recipe, dataset or resume file; one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml

from ssb_core.cli._common import run_cli, setup_logging

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssb-train", description="Train a Segmentation Schrödinger Bridge network.")
    p.add_argument("--config", "-c", help="recipe file (YAML or JSON); defaults apply to every key it omits")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one recipe value (YAML syntax), e.g. --set train.max_steps=500; repeatable")
    p.add_argument("--output-dir", "-o", help="shortcut for --set output_dir=DIR")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RESUME_PT",
                   help="continue from OUTPUT_DIR/resume.pt (or from the given file)")
    p.add_argument("--threads", type=int, help="shortcut for --set train.num_threads=N")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stderr is not a TTY)")
    p.add_argument("--print-config", action="store_true", help="print the resolved recipe as YAML and exit")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    from ssb_core.training import load_config, train

    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.threads is not None:
        overrides.append(f"train.num_threads={args.threads}")
    if args.no_progress:
        overrides.append("train.progress=off")
    config = load_config(args.config, overrides)
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False))
        return 0
    result = train(config, resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    summary = {
        "checkpoint": str(result.checkpoint_path),
        "steps": result.steps,
        "elapsed_min": round(result.elapsed_s / 60, 2),
        "stopped": result.stopped,
        **{k: round(v, 4) for k, v in result.last_validation.items() if k.startswith("val/") and isinstance(v, float)},
    }
    print(json.dumps(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv), "ssb-train")


if __name__ == "__main__":
    sys.exit(main())
