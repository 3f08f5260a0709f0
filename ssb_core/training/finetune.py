"""Fine-tuning a shipped checkpoint on newly collected reader labels (the annotation app's train task).

The network, bridge, loss and sampling settings, the reader names and the data conventions all come from the
checkpoint, so the fine-tuned model is interpreted exactly like the original; only the optimisation settings
are chosen here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset

from ssb_core.checkpoint import SSBCheckpoint, load_checkpoint
from ssb_core.training.config import TrainConfig, apply_overrides
from ssb_core.training.trainer import TrainResult, train

__all__ = ["fine_tune"]

logger = logging.getLogger(__name__)


def fine_tune(
    checkpoint: str | Path | SSBCheckpoint,
    samples: Sequence[dict] | Dataset,
    *,
    output_dir: str | Path,
    steps: int = 200,
    lr: float = 5e-5,
    batch_size: int = 8,
    ema_decay: float = 0.99,
    trainable: str = "all",
    train_readers: Sequence[str] = (),
    val_samples: Sequence[dict] | Dataset | None = None,
    augment: bool = True,
    seed: int = 0,
    num_threads: int = 0,
    device: str = "auto",
    max_minutes: float = 0.0,
    name: str | None = None,
    resume: bool = False,
    overrides: Sequence[str] = (),
) -> TrainResult:
    """Continue training ``checkpoint`` on ``samples``; write ``<output_dir>/<name>.pt``.

    Args:
        checkpoint: a checkpoint path or a loaded :class:`~ssb_core.checkpoint.SSBCheckpoint`.
        samples: sample dicts as :mod:`ssb_core.data` produces them: ``image`` (1, H, W) float32 already
            normalised with the checkpoint's ``data`` conventions, ``masks`` (R, H, W) uint8 with
            R <= the checkpoint's readers (slot i = reader ``checkpoint.readers[i]``), ``reader_present``
            (R,) bool, ``case_id``, ``patient_id``. H and W must be multiples of ``network.size_multiple``.
        output_dir: where the checkpoint, the resume state and ``metrics.jsonl`` go.
        steps: optimiser steps; lr: constant LR after a short warm-up; batch_size: pairs per step;
            ema_decay: EMA of the fine-tuned weights (0 = none; the EMA starts from the checkpoint's weights).
        trainable, train_readers: what changes (:mod:`ssb_core.training.trainable`): ``all``, or ``readers`` /
            ``readers+tail`` with the embedding rows of the readers named in ``train_readers`` (empty = all).
        val_samples: optional samples for validation at the end (GED, D_max).
        augment, seed, num_threads, device, max_minutes: as in the recipe (:mod:`ssb_core.training.config`).
        name: checkpoint file stem (default: the original's recipe name + ``_finetuned``).
        resume: continue an interrupted fine-tuning in ``output_dir``.
        overrides: extra ``section.key=value`` overrides (``loss.gamma=0.5``, ``validation.nfe=10`` ...).

    Returns:
        the :class:`~ssb_core.training.trainer.TrainResult`; ``result.checkpoint_path`` is the new model.
    """
    ckpt = checkpoint if isinstance(checkpoint, SSBCheckpoint) else load_checkpoint(checkpoint)
    if len(samples) == 0:  # type: ignore[arg-type]
        raise ValueError("fine_tune needs at least one sample")
    recipe = ckpt.provenance.get("training", {}).get("recipe", {}) if isinstance(ckpt.provenance, dict) else {}
    stem = name or f"{recipe.get('name', 'ssb')}_finetuned"
    raw = {
        "seed": seed,
        "output_dir": str(output_dir),
        "name": stem,
        "network": ckpt.network.to_dict(),
        "bridge": ckpt.bridge.to_dict(),
        "loss": {k: v for k, v in ckpt.loss.items() if k in ("gamma", "p_uncond")},
        "sampling": ckpt.sampling.to_dict(),
        "data": {"augment": augment, "readers": list(ckpt.readers)},
        "optim": {"lr": lr, "schedule": "constant", "warmup_steps": min(20, max(1, steps // 10)), "trainable": trainable,
                  "train_readers": [ckpt.readers.index(r) for r in train_readers]},
        "train": {
            "max_steps": steps,
            "batch_size": batch_size,
            "ema_decay": ema_decay,
            "num_threads": num_threads,
            "device": device,
            "max_minutes": max_minutes,
            "progress": "off",
            "log_every": max(1, min(10, steps // 10)),
            "val_every": 0,
            "ckpt_every": max(1, steps // 4),
        },
    }
    config = TrainConfig.from_dict(apply_overrides(raw, list(overrides)))
    conventions = dict(ckpt.data)
    conventions["fine_tuned_from"] = ckpt.provenance.get("created", "unknown")
    logger.info("fine-tuning on %d samples for %d steps -> %s", len(samples), steps, output_dir)  # type: ignore[arg-type]
    return train(
        config,
        train_dataset=samples,  # type: ignore[arg-type]
        val_dataset=val_samples,  # type: ignore[arg-type]
        resume=resume,
        init_state_dict=ckpt.state_dict,
        readers=list(ckpt.readers),
        conventions=conventions,
    )
