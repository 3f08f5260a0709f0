"""Optimiser, learning-rate schedule and mixed precision for the training loop.

- AdamW; LR: linear warm-up over ``warmup_steps`` then cosine decay to ``min_lr_ratio * lr`` at ``max_steps``
  (or constant), as a ``LambdaLR`` so its state resumes exactly.
- AMP: ``torch.autocast`` on CUDA only. ``auto`` picks bf16 where the GPU supports it, else fp16 with a
  ``GradScaler``; on the CPU mixed precision is off whatever is asked (a warning says so).
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import torch
from torch import nn

from ssb_core.training.config import OptimConfig

__all__ = ["build_optimizer", "build_scheduler", "AmpSettings", "resolve_amp"]

logger = logging.getLogger(__name__)


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """AdamW over every trainable parameter."""
    return torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )


def lr_factor(step: int, config: OptimConfig, max_steps: int) -> float:
    """Multiplier of the peak LR at optimiser step ``step`` (0-based)."""
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    span = max(1, max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, max_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config, max_steps))


@dataclass
class AmpSettings:
    """What mixed precision the loop uses: ``dtype`` None = full precision."""

    device_type: str
    dtype: torch.dtype | None

    @property
    def uses_scaler(self) -> bool:
        return self.dtype == torch.float16

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device_type, enabled=self.uses_scaler)


def resolve_amp(requested: str, device: torch.device) -> AmpSettings:
    """Map ``train.amp`` (auto, bf16, fp16, off) and the device to the precision actually used."""
    if device.type != "cuda":
        if requested in ("bf16", "fp16"):
            logger.warning("train.amp=%s ignored: mixed precision is only used on CUDA (device %s)", requested, device)
        return AmpSettings(device.type, None)
    if requested == "off":
        return AmpSettings("cuda", None)
    if requested == "auto":
        return AmpSettings("cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return AmpSettings("cuda", torch.bfloat16 if requested == "bf16" else torch.float16)
