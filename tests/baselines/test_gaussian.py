"""The Gaussian-start baseline: oracle recovery at 1000 (DDPM) and 50 (DDIM) steps, loss, reproducibility, and DDIM
checked against a known data distribution and against DDPM (the indexing and the clipping)."""

from __future__ import annotations

import pytest
import torch

from ssb_core.baselines.gaussian import GaussianDiffusionConfig, GaussianDiffusionLoss, ddim_step, gaussian_candidates


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


def _gaussian_data_eps(abar: torch.Tensor, mu: float, s: float):
    """The exact noise predictor for data x0 ~ N(mu, s^2) per pixel: E[eps | x_t] (the Gaussian posterior)."""

    def eps_model(x_t, image, t, labels):
        a = abar[t.long().cpu()].to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        return (1 - a).sqrt() * (x_t - a.sqrt() * mu) / (a * s * s + 1 - a)

    return eps_model


def _ddim_sample(sched, eps_model, n: int, eta: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 1, 1, generator=g)
    for t in sched.timesteps.tolist():
        x = ddim_step(sched, eps_model(x, None, torch.full((n,), t), None), int(t), x, eta=eta, generator=g)
    return x.flatten()


@pytest.mark.parametrize("nfe", [50, 10])
def test_ddim_maps_noise_onto_the_data_distribution_and_a_wrong_step_index_would_not(nfe):
    # Unlike the oracle above (which knows x0 and recovers it at any indexing), an exact noise predictor of a
    # Gaussian data distribution makes deterministic DDIM carry N(0, 1) onto N(mu, s^2) only when each step moves
    # between the right noise levels: a step index off by a factor 2 widens the result 2.2-2.5 times.
    mu, s = 0.3, 0.2
    sched = GaussianDiffusionConfig().scheduler(nfe)
    eps_model = _gaussian_data_eps(sched.alphas_cumprod, mu, s)
    x = _ddim_sample(sched, eps_model, 20000, eta=0.0)
    assert abs(float(x.mean()) - mu) < 0.015 and abs(float(x.std()) - s) < 0.055, (float(x.mean()), float(x.std()))
    sched.num_inference_steps = 2 * nfe  # the step from t now lands half-way to the next timestep
    wrong = _ddim_sample(sched, eps_model, 20000, eta=0.0)
    assert float(wrong.std()) > 2 * s


def _ddpm_and_ddim_over_every_step(T: int = 100):
    ddpm = GaussianDiffusionConfig(num_train_timesteps=T).scheduler()
    ddim = GaussianDiffusionConfig(num_train_timesteps=T).scheduler(T - 1)
    ddim.set_timesteps(T)
    assert ddpm.timesteps.tolist() == ddim.timesteps.tolist() and ddpm.clip_sample and not ddim.clip_sample
    # data beyond [-1, 1] often, so that clipping x0_hat matters at every noise level
    return ddpm, ddim, _gaussian_data_eps(ddpm.alphas_cumprod, 0.9, 0.5)


def test_ddim_with_eta_1_over_every_step_is_the_clipped_ddpm_step():
    # DDIM's eta = 1 variance is the DDPM posterior's, and ddim_step's direction term is re-derived from the
    # clipped x0_hat, as DDPM's posterior mean (a mix of the clipped x0_hat and x_t) implies: over all T steps,
    # with one generator each, the two samplers give the same sample
    ddpm, ddim, eps_model = _ddpm_and_ddim_over_every_step()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x1 = x2 = torch.randn(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    for t in ddpm.timesteps.tolist():
        tt = torch.full((64,), t)
        x1, _ = ddpm.step(eps_model(x1, None, tt, None), int(t), x1, generator=g1)
        x2 = ddim_step(ddim, eps_model(x2, None, tt, None), int(t), x2, eta=1.0, generator=g2)
    assert torch.allclose(x1, x2, atol=1e-3)  # float32 rounding over 100 steps


def test_monai_ddim_clipping_without_rederiving_the_noise_is_not_ddpm():
    # the bug ddim_step avoids: MONAI's DDIM clips x0_hat but keeps the network's eps in the direction term, so the
    # step no longer matches DDPM's (this is what left the Gaussian baseline's DDIM candidates noise-like)
    ddpm, ddim, eps_model = _ddpm_and_ddim_over_every_step()
    ddim.clip_sample = True
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x1 = x2 = torch.randn(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    for t in ddpm.timesteps.tolist():
        tt = torch.full((64,), t)
        x1, _ = ddpm.step(eps_model(x1, None, tt, None), int(t), x1, generator=g1)
        x2, _ = ddim.step(eps_model(x2, None, tt, None), int(t), x2, eta=1.0, generator=g2)
    assert (x1 - x2).abs().max() > 0.1
    with pytest.raises(ValueError, match="clip_sample=False"):
        ddim_step(ddim, torch.zeros(1), 5, torch.zeros(1), eta=0.0)
