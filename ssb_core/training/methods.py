"""What the training loop trains: SSB or one of its baselines, chosen by the recipe's ``method``.

A :class:`TrainingMethod` knows how to build its network, compute the loss of one batch, sample candidates
for validation and write its checkpoint; the loop (:mod:`ssb_core.training.trainer`) is the same for all, so
the baselines get the same data, pairs, augmentation, optimiser, EMA, AMP, DDP and resume as SSB.

- ``ssb``: :class:`~ssb_core.network.SSBNetwork` + :class:`~ssb_core.loss.SSBLoss`; checkpoint
  :mod:`ssb_core.checkpoint`.
- ``gaussian``: the same network + :class:`~ssb_core.baselines.gaussian.GaussianDiffusionLoss` (start from noise).
- ``prob_unet``: :class:`~ssb_core.baselines.prob_unet.ProbUNet` and its ELBO (the reader label is not used).

Baseline checkpoints: :mod:`ssb_core.baselines.checkpoint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssb_core.checkpoint import save_checkpoint
from ssb_core.training.config import TrainConfig

__all__ = ["METHODS", "TrainingMethod", "build_method"]

METHODS = ("ssb", "gaussian", "prob_unet")


class TrainingMethod:
    """The SSB method; baselines override the four hooks."""

    name = "ssb"

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        from ssb_core.bridge import Bridge
        from ssb_core.loss import SSBLoss

        self.bridge = Bridge(config.bridge)
        self._loss = SSBLoss(self.bridge, config.loss, null_label=config.network.null_label)

    def build_model(self) -> nn.Module:
        from ssb_core.network import SSBNetwork

        return SSBNetwork(self.config.network)

    def loss(self, net: nn.Module, masks: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch's loss (a scalar tensor to backpropagate) and its logged parts. masks, images (B, 1, H, W)."""
        out = self._loss(net, masks, images, labels, generator=generator)
        return out.loss, {"mse": float(out.mse), "dice": float(out.dice)}

    def sample_fn(self, model: nn.Module, nfe: int, device: torch.device):  # noqa: ANN201 - a SampleFn
        from ssb_core.evaluation.samplers import ssb_sample_fn

        sampling = self.config.sampling.replace(nfe=nfe)
        return ssb_sample_fn(model, self.bridge, sampling, num_readers=self.config.network.num_readers, device=device)

    def save(self, model: nn.Module, path: Path, readers: list[str], conventions: dict[str, Any], provenance: dict) -> None:
        from ssb_core.checkpoint import SSBCheckpoint

        cfg = self.config
        save_checkpoint(SSBCheckpoint(network=cfg.network, bridge=cfg.bridge, sampling=cfg.sampling, state_dict=_cpu_state(model),
                                      readers=list(readers), data=conventions, loss=cfg.loss.to_dict(), provenance=provenance), path)


class GaussianMethod(TrainingMethod):
    """Gaussian-start conditional diffusion on the SSB network (the CIMD family)."""

    name = "gaussian"

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        from ssb_core.baselines.gaussian import GaussianDiffusionLoss

        self._loss = GaussianDiffusionLoss(config.gaussian, null_label=config.network.null_label)

    def loss(self, net, masks, images, labels, generator):  # noqa: ANN001, ANN201 - as TrainingMethod.loss
        out = self._loss(net, masks, images, labels, generator=generator)
        return out.loss, {"mse": float(out.mse)}

    def sample_fn(self, model, nfe, device):  # noqa: ANN001, ANN201
        from ssb_core.baselines.sampling import gaussian_sample_fn

        return gaussian_sample_fn(model, self.config.gaussian, self.config.network.num_readers, nfe,
                                  guidance_weight=self.config.sampling.guidance_weight, device=device)

    def save(self, model, path, readers, conventions, provenance) -> None:  # noqa: ANN001
        from ssb_core.baselines.checkpoint import BaselineCheckpoint, save_baseline

        save_baseline(BaselineCheckpoint("gaussian", self.config.gaussian.to_dict(), _cpu_state(model), self.config.network.to_dict(),
                                         list(readers), conventions, provenance), path)


class ProbUNetMethod(TrainingMethod):
    """The Probabilistic U-Net (Kohl et al. 2018): the per-pixel ELBO, one reader's mask per pair."""

    name = "prob_unet"

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def build_model(self) -> nn.Module:
        from ssb_core.baselines.prob_unet import ProbUNet

        return ProbUNet(self.config.prob_unet)

    def loss(self, net, masks, images, labels, generator):  # noqa: ANN001, ANN201
        bce, kl = net(images, masks, generator)
        model = net.module if hasattr(net, "module") else net  # DDP wraps the model
        return model.elbo(bce, kl, images), {"bce": float(bce.detach()), "kl": float(kl.detach())}

    def sample_fn(self, model, nfe, device):  # noqa: ANN001, ANN201
        from ssb_core.baselines.sampling import prob_unet_sample_fn

        return prob_unet_sample_fn(model, device=device)

    def save(self, model, path, readers, conventions, provenance) -> None:  # noqa: ANN001
        from ssb_core.baselines.checkpoint import BaselineCheckpoint, save_baseline

        save_baseline(BaselineCheckpoint("prob_unet", self.config.prob_unet.to_dict(), _cpu_state(model), None,
                                         list(readers), conventions, provenance), path)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def build_method(config: TrainConfig) -> TrainingMethod:
    """The :class:`TrainingMethod` named by ``config.method``."""
    return {"ssb": TrainingMethod, "gaussian": GaussianMethod, "prob_unet": ProbUNetMethod}[config.method](config)
