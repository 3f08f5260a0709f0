"""What the loop hands to the outside: the checkpoint's provenance and the validation record."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from torch import nn

from ssb_core.checkpoint import default_provenance
from ssb_core.training.config import TrainConfig
from ssb_core.training.distributed import DistInfo

__all__ = ["checkpoint_provenance", "run_validation"]

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def _plain(value: dict) -> dict:
    """Plain JSON types only (``torch.__version__`` is a str subclass that ``weights_only`` loading refuses)."""
    return json.loads(json.dumps(value, default=str))


def checkpoint_provenance(config: TrainConfig, step: int, elapsed_s: float, info: DistInfo, amp: str) -> dict[str, Any]:
    """Provenance for a checkpoint of this run: code and library versions, hardware, time, steps and recipe."""
    return _plain(default_provenance(
        training={
            "method": config.method,
            "steps": int(step),
            "elapsed_s": round(float(elapsed_s), 1),
            "world_size": info.world_size,
            "amp": amp,
            "num_threads": torch.get_num_threads(),
            "weights": "ema" if config.train.ema_decay > 0 else "raw",
            "recipe": config.to_dict(),
        }
    ))


def run_validation(model: nn.Module, make_sample_fn: Callable[..., Any], config: TrainConfig, dataset: Dataset, device: torch.device) -> dict[str, float]:
    """GED and D_max on ``validation.num_images`` images spread evenly over the validation set (not the first
    ones, which often come from one patient), ``validation.num_candidates`` candidates at ``validation.nfe``.
    ``make_sample_fn(model, nfe, device)`` turns the network into a sampler (the method's, see
    :mod:`ssb_core.training.methods`).

    The same candidates are scored with absent readers excluded (``val/<metric>``) and as empty masks
    (``val/<metric>_empty``, Kohl et al.). Runs under ``torch.random.fork_rng`` so validating never changes the
    training's random streams. Returns ``{"val/<metric>": value}``; empty when the metrics package is not importable.
    """
    try:
        from ssb_core.evaluation.runner import evaluate_sampler_conventions
    except ImportError as exc:  # the metrics package may be absent in a stripped install
        if "validation" not in _warned:
            logger.warning("validation skipped: %s", exc)
            _warned.add("validation")
        return {}
    v = config.validation
    size = len(dataset)  # type: ignore[arg-type]
    n = min(v.num_images, size)
    indices = sorted({round(i * (size - 1) / max(1, n - 1)) for i in range(n)})
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            sample_fn = make_sample_fn(model, v.nfe, device)
            results = evaluate_sampler_conventions(
                sample_fn,
                dataset,
                name="val",
                nfe=v.nfe,
                num_candidates=v.num_candidates,
                seed=v.seed,
                indices=indices,
                metric_names=("ged", "d_max"),
                absent_readers=("exclude", "empty"),
            )
    finally:
        model.train(was_training)
    record = {f"val/{k}": float(val) for k, val in results[0].summary.items() if isinstance(val, (int, float))}
    record.update({f"val/{k}_empty": float(results[1].summary[k]) for k in ("ged", "d_max") if k in results[1].summary})
    return record
