"""The bridge maths: endpoints, marginals, the posterior step."""

from __future__ import annotations

import math

import pytest
import torch

from ssb_core.bridge import Bridge, BridgeConfig


@pytest.fixture(scope="module")
def bridge() -> Bridge:
    return Bridge(BridgeConfig(num_timesteps=1000, beta_max=0.3))


def _pair(seed: int = 0, shape=(3, 1, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    x0 = (torch.rand(shape, generator=g) > 0.5).double() * 2 - 1
    x1 = torch.randn(shape, generator=g, dtype=torch.float64)
    return x0, x1


def test_schedule_is_symmetric_and_matches_i2sb(bridge):
    T = bridge.num_timesteps
    betas = bridge.betas[1:]
    assert torch.allclose(betas, betas.flip(0))
    b = torch.linspace(math.sqrt(1e-4), math.sqrt(0.3 / T), T, dtype=torch.float64) ** 2
    assert torch.allclose(betas[: T // 2], b[: T // 2])
    assert bridge.betas[0] == 0
    assert bridge.std_fwd[0] == 0 and bridge.std_bwd[-1] == 0
    total = bridge.std_fwd**2 + bridge.std_bwd**2
    assert torch.allclose(total, total[0].expand_as(total))


def test_q_sample_hits_the_endpoints_without_noise(bridge):
    x0, x1 = _pair()
    noise = torch.randn_like(x0)
    assert torch.equal(bridge.q_sample(0, x0, x1, noise=noise), x0)
    assert torch.equal(bridge.q_sample(bridge.num_timesteps, x0, x1, noise=noise), x1)


def test_q_sample_moments_match_the_analytic_posterior(bridge):
    n = 400
    x0 = torch.full((20000, 1, 1, 1), -1.0, dtype=torch.float64)
    x1 = torch.full_like(x0, 2.0)
    torch.manual_seed(0)
    xt = bridge.q_sample(n, x0, x1)
    s2, sb2 = bridge.std_fwd[n] ** 2, bridge.std_bwd[n] ** 2
    mean = (sb2 * -1.0 + s2 * 2.0) / (s2 + sb2)
    var = s2 * sb2 / (s2 + sb2)
    assert abs(xt.mean().item() - mean.item()) < 4 * var.sqrt().item() / math.sqrt(20000)
    assert abs(xt.var().item() / var.item() - 1) < 0.05


def test_target_and_pred_x0_invert_each_other(bridge):
    x0, x1 = _pair()
    steps = torch.tensor([1, 500, 1000])
    xt = bridge.q_sample(steps, x0, x1)
    eps = bridge.target(steps, x0, xt)
    assert torch.allclose(bridge.pred_x0(steps, xt, eps), x0)


def test_target_is_undefined_at_step_zero(bridge):
    x0, x1 = _pair()
    with pytest.raises(ValueError, match="n = 0"):
        bridge.target(0, x0, x1)


def test_deterministic_posterior_with_perfect_x0_is_the_bridge_mean(bridge):
    x0, x1 = _pair()
    n, n_prev = 700, 300
    x_n = bridge.q_sample(n, x0, x1, ot_ode=True)
    x_prev = bridge.p_posterior(n_prev, n, x_n, x0, ot_ode=True)
    assert torch.allclose(x_prev, bridge.q_sample(n_prev, x0, x1, ot_ode=True))
    assert torch.allclose(bridge.p_posterior(0, n, x_n, x0, ot_ode=True), x0)


def test_stochastic_posterior_has_the_right_variance(bridge):
    """From x_n ~ q(x_n | x0, x1), one posterior step must land on q(x_n' | x0, x1): mean and variance."""
    n, n_prev, k = 800, 350, 40000
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((k, 1, 1, 1), 1.0, dtype=torch.float64)
    x1 = torch.full_like(x0, -0.5)
    x_n = bridge.q_sample(n, x0, x1, noise=torch.randn(x0.shape, generator=g, dtype=torch.float64))
    x_prev = bridge.p_posterior(n_prev, n, x_n, x0, noise=torch.randn(x0.shape, generator=g, dtype=torch.float64))
    want_mean = bridge.mu_x0[n_prev] * 1.0 + bridge.mu_x1[n_prev] * -0.5
    want_var = bridge.std_sb[n_prev] ** 2
    assert abs(x_prev.mean().item() - want_mean.item()) < 4 * want_var.sqrt().item() / math.sqrt(k)
    assert abs(x_prev.var().item() / want_var.item() - 1) < 0.04
    # the step's own noise: the conditional variance given x_n
    _, _, std = bridge.posterior_coef(n_prev, n)
    spread = bridge.p_posterior(n_prev, n, x_n[:1].expand(k, -1, -1, -1), x0, noise=torch.randn(x0.shape, generator=g, dtype=torch.float64))
    assert abs(spread.std().item() / std - 1) < 0.03


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_timesteps": 999}, "even"), ({"num_timesteps": 0}, "even"), ({"beta_max": -1.0}, "> 0"), ({"beta_min": 1.0}, "below")],
)
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BridgeConfig(**kwargs)


def test_bad_steps_and_shapes_are_rejected(bridge):
    x0, x1 = _pair()
    with pytest.raises(ValueError, match="steps must lie"):
        bridge.q_sample(1001, x0, x1)
    with pytest.raises(ValueError, match="same shape"):
        bridge.q_sample(3, x0, x1[:, :, :4])
    with pytest.raises(ValueError, match="one per sample"):
        bridge.q_sample(torch.tensor([1, 2]), x0, x1)
    with pytest.raises(ValueError, match="n_prev < n"):
        bridge.posterior_coef(5, 5)
