#!/usr/bin/env python
"""Why deterministic DDIM fails for the Gaussian-start baseline while DDPM works on the same weights.

Samples the baseline on evenly spread lidc64 test slices with each sampler variant and prints, per variant,
D_max and GED (absent readers excluded) and the share of pixels the candidates mark as foreground:

- DDIM with eta 0 (the deterministic ODE) at 50, 200 and, with ``--long``, 999 steps: if only the step count or
  the step indexing were wrong, more steps (999: nearly every timestep) would fix it;
- DDIM with eta 1 at 50 steps (fresh noise each step, the DDPM posterior's variance);
- DDPM over all 1000 steps (with ``--long``).

The sampler itself is checked without the network in ``tests/baselines/test_gaussian.py`` (DDIM eta 1 over all
steps equals DDPM; DDIM eta 0 carries noise onto a known Gaussian data distribution, and a wrong step index
does not). Findings: ``docs/baselines.md``.

    .venv/bin/python scripts/gaussian_sampler_probe.py --images 16 --long
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("gaussian_sampler_probe")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "baselines" / "gaussian_lidc64.pt")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lidc64" / "test.npz")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("-n", "--num-candidates", type=int, default=4)
    ap.add_argument("--long", action="store_true", help="also DDIM eta 0 over 999 steps and DDPM (slow on a CPU)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from ssb_core.baselines.checkpoint import load_baseline
    from ssb_core.data import build_dataset
    from ssb_core.evaluation.report import markdown_table
    from ssb_core.evaluation.runner import evaluate_sampler, spread_indices
    from ssb_core.evaluation.samplers import baseline_sampler

    torch.set_num_threads(args.threads)
    dataset = build_dataset({"format": "lidc64", "path": str(args.data)})
    indices = spread_indices(len(dataset), args.images)
    ckpt = load_baseline(args.checkpoint)
    # DDIM over 999 steps: the scheduler runs DDPM when asked for all T = 1000
    variants = [(50, 0.0), (200, 0.0), (50, 1.0)] + ([(999, 0.0), (None, 1.0)] if args.long else [])
    lines = []
    for nfe, eta in variants:
        spec = baseline_sampler(ckpt, nfe, eta=eta, runtime="auto")
        fg: list[float] = []

        def on_case(record: dict, sample: dict, probs: np.ndarray) -> None:
            fg.append(float((probs > 0.5).mean()))

        t0 = time.perf_counter()
        row = evaluate_sampler(spec.sample_fn, dataset, name=spec.name, nfe=spec.nfe, num_candidates=args.num_candidates,
                               indices=indices, metric_names=("ged", "d_max"), on_case=on_case)
        sampler = "DDPM" if nfe is None else "DDIM"
        lines.append([sampler, spec.nfe, f"{eta:g}", f"{row.mean('d_max'):.3f}", f"{row.mean('ged'):.3f}", f"{np.mean(fg):.3f}",
                      f"{(time.perf_counter() - t0) / len(indices):.1f}"])
        logger.info("%s", lines[-1])
    masks = np.stack([np.asarray(dataset[i]["masks"]) for i in indices])
    present = np.stack([np.asarray(dataset[i]["reader_present"]) for i in indices]).astype(bool)
    print(f"{len(indices)} slices {indices}, N = {args.num_candidates}, seed 0; readers' foreground share "
          f"{masks[present].mean():.3f}\n")
    print(markdown_table(["sampler", "steps", "eta", "D_max ↑", "GED ↓", "foreground share", "s / image"], lines), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
