"""Training throughput (slices per second) and the time to fine-tune on 20 new reader labels.

- throughput: ``ssb-train``'s loop on lidc64 training slices (the shipped model's recipe, ``configs/lidc64_cpu.yaml``)
  for a few steps, no validation; slices/s = steps x batch / training wall time (the first step excluded);
- fine-tuning: :func:`ssb_core.training.fine_tune` from the shipped model on 20 reader labels (20 slices with
  one reader each), the whole network for 50 steps at batch 8 and lr 5e-5 (the annotation server's first recipe;
  its current one, and how it was chosen: ``benchmarks/reader_adaptation.py``, ``docs/finetuning.md``).

Used by ``scripts/benchmark.py``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]

__all__ = ["training_throughput", "finetune_time"]


def training_throughput(data_dir: Path, steps: int = 20, batch_size: int = 16) -> dict:
    """Slices per second of the shipped recipe's training loop on this machine."""
    from ssb_core.training import load_config, train

    with tempfile.TemporaryDirectory(prefix="ssb-bench-train-") as tmp:
        overrides = [f"output_dir={tmp}", f"train.max_steps={steps}", f"train.batch_size={batch_size}", "train.val_every=0",
                     "train.ckpt_every=0", "train.log_every=1", "train.progress=off", "train.num_threads=0", "train.max_minutes=0",
                     f"data.train={{format: lidc64, path: '{data_dir / 'train.npz'}'}}", "data.val=null"]
        result = train(load_config(REPO / "configs" / "lidc64_cpu.yaml", overrides))
        log = [json.loads(line) for line in result.log_path.read_text().splitlines() if line.strip()]
    stamps = [r["elapsed_s"] for r in log if "loss" in r]
    per_step = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
    out = {"steps": steps, "batch_size": batch_size, "s_per_step": per_step, "slices_per_s": batch_size / per_step}
    logger.info("training: %.2f s/step, %.1f slices/s", per_step, out["slices_per_s"])
    return out


def finetune_time(data_dir: Path, model: Path, labels: int = 20, steps: int = 50, batch_size: int = 8) -> dict:
    """Wall time of fine-tuning the shipped model on ``labels`` new reader labels (one reader per slice)."""
    import numpy as np

    from ssb_core.data import build_dataset
    from ssb_core.training import fine_tune

    dataset = build_dataset({"format": "lidc64", "path": str(data_dir / "val.npz")})
    samples = []
    for k in range(labels):
        s = dict(dataset[k])
        present = np.asarray(s["reader_present"]).copy()
        first = int(np.flatnonzero(present)[0])
        keep = np.zeros_like(present)
        keep[first] = True  # one new reader label per slice
        s["reader_present"] = keep
        samples.append(s)
    with tempfile.TemporaryDirectory(prefix="ssb-bench-ft-") as tmp:
        t0 = time.perf_counter()
        result = fine_tune(model, samples, output_dir=tmp, steps=steps, batch_size=batch_size, lr=5e-5, device="cpu")
        wall = time.perf_counter() - t0
    out = {"labels": labels, "steps": result.steps, "batch_size": batch_size, "wall_s": wall}
    logger.info("fine-tuning on %d labels: %.1f s (%d steps)", labels, wall, result.steps)
    return out
