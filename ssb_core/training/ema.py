"""Exponential moving average of the network's weights, via ``torch.optim.swa_utils.AveragedModel``.

``ema = decay * ema + (1 - decay) * weights`` after every optimiser step (buffers included). Early in
training the effective decay is ``min(decay, (1 + n) / (10 + n))`` (the usual warm-up, n = updates so far),
so the EMA is not dominated by the random initial weights of a short run.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

__all__ = ["ModelEMA"]


class ModelEMA:
    """EMA of a module's parameters and buffers.

    Args:
        model: the (unwrapped) module being trained; the EMA is a deep copy on the same device.
        decay: the target decay in [0, 1).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.averaged = AveragedModel(model, multi_avg_fn=self._multi_avg, use_buffers=True)
        self.averaged.requires_grad_(False)

    def _current_decay(self) -> float:
        n = int(self.averaged.n_averaged.item())
        return min(self.decay, (1.0 + n) / (10.0 + n))

    def _multi_avg(self, ema_params: list[torch.Tensor], model_params: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        decay = self._current_decay()
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, model_params, 1.0 - decay)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step towards ``model``'s current weights (call after ``optimizer.step()``)."""
        self.averaged.update_parameters(model)

    @property
    def module(self) -> nn.Module:
        """The averaged network (same class as the trained one)."""
        return self.averaged.module

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.averaged.load_state_dict(state)
