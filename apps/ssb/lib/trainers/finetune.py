"""Fine-tuning and validating a candidate model: the app's only contact with the training and metrics code.

- :func:`fine_tune_candidate` calls :func:`ssb_core.training.fine_tune` (L_SSB with reader-label dropout,
  the "guidance dropout" of classifier-free guidance, EMA weights), starting from the served model;
- :func:`validate` scores a model on held-out samples with :func:`ssb_core.evaluation.evaluate_sampler`
  (GED and D_max from :mod:`ssb_core.metrics`), the same seed for every model so that two models are
  compared on the same noise paths.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from ssb_core.checkpoint import SSBCheckpoint
from ssb_core.pipeline import SSBPipeline

__all__ = ["FineTuneResult", "fine_tune_candidate", "validate"]

logger = logging.getLogger(__name__)


@dataclass
class FineTuneResult:
    checkpoint_path: Path
    steps: int
    elapsed_s: float
    stopped: str
    world_size: int = 1


def fine_tune_candidate(
    ckpt: SSBCheckpoint,
    samples: list[dict],
    output_dir: Path,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    max_minutes: float,
    num_threads: int,
    device: str,
    multi_gpu: bool = False,
    gpus: str = "all",
) -> FineTuneResult:
    """Continue training ``ckpt`` on ``samples`` (see :mod:`lib.trainers.dataset`); writes ``candidate.pt``.

    ``multi_gpu``: DistributedDataParallel over the GPUs listed in ``gpus`` (``"all"`` or ``"0,1"``), one
    process each (:func:`ssb_core.training.launch.fine_tune_multiprocess`); on a server without CUDA, two
    CPU processes with Gloo. ``batch_size`` is then per process.
    """
    kwargs = dict(checkpoint=ckpt, samples=samples, output_dir=output_dir, steps=steps, lr=lr, batch_size=min(batch_size, len(samples)),
                  seed=seed, max_minutes=max_minutes, num_threads=num_threads, name="candidate")
    if multi_gpu:
        from ssb_core.training.launch import fine_tune_multiprocess

        summary = fine_tune_multiprocess(gpus=gpus, **kwargs)
        return FineTuneResult(Path(summary["checkpoint_path"]), int(summary["steps"]), float(summary["elapsed_s"]), str(summary["stopped"]),
                              world_size=int(summary["world_size"]))
    from ssb_core.training import fine_tune

    result = fine_tune(device=device, **kwargs)
    return FineTuneResult(Path(result.checkpoint_path), int(result.steps), float(result.elapsed_s), str(result.stopped))


def validate(ckpt: SSBCheckpoint, samples: list[dict], *, num_candidates: int, nfe: int, seed: int, device: str) -> dict:
    """``{"ged": ..., "d_max": ...}`` of ``ckpt`` on ``samples`` (means over slices).

    A model that cannot be sampled (NaN/Inf weights after a diverged run) scores GED = inf, with ``error``.
    """
    from ssb_core.evaluation import evaluate_sampler, pipeline_sampler

    pipeline = SSBPipeline(ckpt, device=device)
    spec = pipeline_sampler(pipeline, nfe=min(nfe, ckpt.bridge.num_timesteps))
    try:
        res = evaluate_sampler(spec.sample_fn, samples, name="validation", nfe=spec.nfe, num_candidates=num_candidates, seed=seed,
                               metric_names=("ged", "d_max"))
    except ValueError as exc:  # a diverged model: NaN/Inf inside the sampler
        logger.warning("validation failed: %s", exc)
        return {"ged": math.inf, "d_max": 0.0, "error": str(exc)}
    out = {k: float(res.summary[k]) for k in ("ged", "d_max")}
    if not math.isfinite(out["ged"]):
        out["ged"] = math.inf
    return out
