"""Shared by the decision scripts that score one sampling of the outlines several ways (``threshold_choice.py``,
``presence_choice.py``): their common options, and the slices sampled batch by batch.

    ap = argparse.ArgumentParser(...); add_options(ap); args = ap.parse_args()
    pipe, count, batches = sampled_batches(args)    # batches: (samples, images, probs (B, N, H, W)) per 8 slices

The slices are lidc128 slices of ``--recipe``'s ``data.val`` (or ``data.test`` with ``--split test``) spread evenly over the split
(``--max-images``); the checkpoint's sampler at ``-n`` candidates and ``--nfe``, seed 0, without its presence head
(every candidate's outline as drawn).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def add_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "ssb_lidc128.pt")
    ap.add_argument("--recipe", type=Path, default=REPO / "configs" / "lidc128_cpu.yaml", help="its data.<--split> is evaluated")
    ap.add_argument("--split", choices=["val", "test"], default="val",
                    help="val (default: where choices are made); test only to measure what a choice does there")
    ap.add_argument("--max-images", type=int, default=400)
    ap.add_argument("-n", "--num-candidates", type=int, default=16)
    ap.add_argument("--nfe", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)


def sampled_batches(args: argparse.Namespace, batch_size: int = 8) -> tuple[Any, int, Iterator[tuple[list[dict], Any, np.ndarray]]]:
    """The loaded pipeline, the number of slices, and an iterator of (sample dicts, images (B, 1, H, W) tensor,
    outline probabilities (B, N, H, W)) over them (a progress bar on a terminal)."""
    import torch
    from tqdm.auto import tqdm

    sys.path.insert(0, str(REPO))
    from ssb_core.evaluation.runner import spread_indices
    from ssb_core.evaluation.samplers import pipeline_sampler
    from ssb_core.pipeline import SSBPipeline
    from ssb_core.training.config import load_config
    from ssb_core.training.setup import build_from_config

    torch.set_num_threads(args.threads)
    pipe = SSBPipeline.from_checkpoint(args.checkpoint)
    spec = pipeline_sampler(pipe, args.nfe, presence=False)
    dataset = build_from_config(getattr(load_config(args.recipe).data, args.split), args.split)
    indices = spread_indices(len(dataset), args.max_images)

    def batches() -> Iterator[tuple[list[dict], Any, np.ndarray]]:
        for start in tqdm(range(0, len(indices), batch_size), desc=f"{args.split} slices", disable=not sys.stderr.isatty()):
            batch = [dataset[i] for i in indices[start : start + batch_size]]
            images = torch.stack([torch.as_tensor(np.asarray(b["image"], np.float32)) for b in batch])
            probs = spec.sample_fn(images, args.num_candidates, 0).numpy()
            yield batch, images, probs.reshape(len(batch), args.num_candidates, *images.shape[-2:])

    return pipe, len(indices), batches()
