"""What the loop hands to the outside: the self-describing model checkpoint and the validation record."""

from __future__ import annotations

import json
import logging
from typing import Any

import torch
from torch.utils.data import Dataset

from ssb_core.bridge import Bridge
from ssb_core.checkpoint import SSBCheckpoint, default_provenance
from ssb_core.network import SSBNetwork
from ssb_core.training.config import TrainConfig
from ssb_core.training.distributed import DistInfo

__all__ = ["model_checkpoint", "run_validation"]

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def _plain(value: dict) -> dict:
    """Plain JSON types only (``torch.__version__`` is a str subclass that ``weights_only`` loading refuses)."""
    return json.loads(json.dumps(value, default=str))


def model_checkpoint(
    model: SSBNetwork,
    config: TrainConfig,
    readers: list[str],
    conventions: dict[str, Any],
    step: int,
    elapsed_s: float,
    info: DistInfo,
    amp: str,
) -> SSBCheckpoint:
    """An :class:`~ssb_core.checkpoint.SSBCheckpoint` of ``model`` (the EMA network when there is one)."""
    provenance = _plain(default_provenance(
        training={
            "steps": int(step),
            "elapsed_s": round(float(elapsed_s), 1),
            "world_size": info.world_size,
            "amp": amp,
            "num_threads": torch.get_num_threads(),
            "weights": "ema" if config.train.ema_decay > 0 else "raw",
            "recipe": config.to_dict(),
        }
    ))
    return SSBCheckpoint(
        network=config.network,
        bridge=config.bridge,
        sampling=config.sampling,
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        readers=list(readers),
        data=conventions,
        loss=config.loss.to_dict(),
        provenance=provenance,
    )


def run_validation(model: SSBNetwork, bridge: Bridge, config: TrainConfig, dataset: Dataset, device: torch.device) -> dict[str, float]:
    """GED and D_max on ``validation.num_images`` images spread evenly over the validation set (not the first
    ones, which often come from one patient), ``validation.num_candidates`` candidates at ``validation.nfe``.

    Runs under ``torch.random.fork_rng`` so validating never changes the training's random streams.
    Returns ``{"val/<metric>": value}``; empty when the metrics package is not importable.
    """
    try:
        from ssb_core.evaluation.runner import evaluate_sampler
        from ssb_core.evaluation.samplers import ssb_sample_fn
    except ImportError as exc:  # the metrics package may be absent in a stripped install
        if "validation" not in _warned:
            logger.warning("validation skipped: %s", exc)
            _warned.add("validation")
        return {}
    v = config.validation
    sampling = config.sampling.replace(num_candidates=v.num_candidates, nfe=v.nfe)
    size = len(dataset)  # type: ignore[arg-type]
    n = min(v.num_images, size)
    indices = sorted({round(i * (size - 1) / max(1, n - 1)) for i in range(n)})
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            sample_fn = ssb_sample_fn(model, bridge, sampling, num_readers=config.network.num_readers, device=device)
            result = evaluate_sampler(
                sample_fn,
                dataset,
                name="val",
                nfe=v.nfe,
                num_candidates=v.num_candidates,
                seed=v.seed,
                indices=indices,
                metric_names=("ged", "d_max"),
            )
    finally:
        model.train(was_training)
    return {f"val/{k}": float(val) for k, val in result.summary.items() if isinstance(val, (int, float))}
