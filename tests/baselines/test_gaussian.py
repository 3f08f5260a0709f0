"""The Gaussian-start baseline: oracle recovery at 1000 (DDPM) and 50 (DDIM) steps, loss, reproducibility."""

from __future__ import annotations

import pytest
import torch

from ssb_core.baselines.gaussian import GaussianDiffusionConfig, GaussianDiffusionLoss, gaussian_candidates


def _oracle(config: GaussianDiffusionConfig, x0_true: torch.Tensor):
    abar = config.scheduler().alphas_cumprod

    def eps_model(x_t, image, t, labels):
        a = abar[t.long().cpu()].to(x_t.dtype).reshape(-1, 1, 1, 1)
        x0 = x0_true.repeat(x_t.shape[0] // x0_true.shape[0], 1, 1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    return eps_model


@pytest.mark.parametrize("nfe", [None, 50, 5])
def test_oracle_recovers_the_mask_from_noise(nfe):
    cfg = GaussianDiffusionConfig()
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:5, 3:7] = 1
    probs = gaussian_candidates(_oracle(cfg, mask * 2 - 1), cfg, torch.randn(2, 1, 8, 8), num_candidates=3, nfe=nfe, seed=1)
    assert probs.shape == (2, 3, 1, 8, 8)
    assert torch.allclose(probs, mask.unsqueeze(1).expand_as(probs), atol=1e-3)


def test_oracle_loss_is_zero_and_seeded_sampling_reproducible(random_tiny_network):
    cfg = GaussianDiffusionConfig(p_uncond=0.0)
    mask = (torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    images = torch.randn(3, 1, 8, 8)
    sched = cfg.scheduler()

    def oracle(x_t, image, t, labels):  # knows the noise: recover it from x_t and x0
        a = sched.alphas_cumprod[t.long()].reshape(-1, 1, 1, 1)
        return (x_t - a.sqrt() * (mask * 2 - 1)) / (1 - a).sqrt()

    out = GaussianDiffusionLoss(cfg)(oracle, mask, images, torch.zeros(3, dtype=torch.long))
    assert out.loss.item() < 1e-8
    a = gaussian_candidates(random_tiny_network, cfg, images, 2, nfe=4, seed=5)
    b = gaussian_candidates(random_tiny_network, cfg, images, 2, nfe=4, seed=5)
    assert torch.equal(a, b)


def test_bad_nfe():
    with pytest.raises(ValueError, match="nfe must be in"):
        GaussianDiffusionConfig().scheduler(0)
