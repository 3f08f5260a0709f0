"""The baselines as evaluation samplers (``sample_fn(images, num_candidates, seed) -> probs``, see
:mod:`ssb_core.evaluation.samplers`): used by ``ssb-evaluate`` and by the training loop's validation."""

from __future__ import annotations

import torch
from torch import nn

from ssb_core.baselines.gaussian import GaussianDiffusionConfig, gaussian_candidates
from ssb_core.baselines.prob_unet import ProbUNet

__all__ = ["gaussian_sample_fn", "prob_unet_sample_fn"]


def gaussian_sample_fn(model: nn.Module, config: GaussianDiffusionConfig, num_readers: int, nfe: int | None,
                       guidance_weight: float = 0.0, device: str | torch.device = "cpu", eta: float = 1.0):  # noqa: ANN201 - a SampleFn
    """Gaussian-start diffusion at ``nfe`` steps (None or T = DDPM over every step, fewer = DDIM with ``eta``)."""
    device = torch.device(device)

    def sample_fn(images: torch.Tensor, num_candidates: int, seed: int) -> torch.Tensor:
        probs = gaussian_candidates(model, config, images.to(device, torch.float32), num_candidates, nfe=nfe,
                                    num_readers=num_readers, guidance_weight=guidance_weight, seed=seed, eta=eta)
        return probs.cpu()

    return sample_fn


def prob_unet_sample_fn(model: ProbUNet, device: str | torch.device = "cpu"):  # noqa: ANN201 - a SampleFn
    """Probabilistic U-Net: one U-Net pass, then one ``fcomb`` pass per candidate (z ~ prior)."""
    device = torch.device(device)

    def sample_fn(images: torch.Tensor, num_candidates: int, seed: int) -> torch.Tensor:
        return model.sample(images.to(device, torch.float32), num_candidates, seed=seed).cpu()

    return sample_fn
