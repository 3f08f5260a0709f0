"""The I2SB bridge between a reader's mask and its image: schedule, analytic posterior, one sampling step.

Maths of Liu et al. 2023 (I2SB, arXiv 2302.05872; reference code NVlabs/I2SB ``i2sb/diffusion.py``) as the
SSB paper (Baru et al.) uses it (its eq. 4 and Algorithm 1). No network is imported here:
everything meets the model through plain tensors.

Conventions
-----------
- ``x0`` is the mask mapped to [-1, 1] (``2 * mask - 1``); ``x1`` is the normalised image ROI. Both have the
  shape ``(B, C, *spatial)``; the bridge runs from ``x1`` (n = T) to ``x0`` (n = 0).
- Discrete steps ``n = 0 .. T``. The betas are indexed ``1 .. T`` (``beta_0 = 0``) so that the endpoints are
  exact: ``sigma_n^2 = sum_{k<=n} beta_k`` (``std_fwd``, sigma_0 = 0) and
  ``bar_sigma_n^2 = sum_{k>n} beta_k`` (``std_bwd``, bar_sigma_T = 0). Deviation from the I2SB code, which
  keeps ``beta_n`` in both sums and therefore never reaches either endpoint exactly (its
  ``std_bwd[T-1] = sqrt(beta_T)``); here ``q_sample`` returns ``x0`` at n = 0 and ``x1`` at n = T, without noise.
- Symmetric schedule (I2SB): ``b = linspace(sqrt(1e-4), sqrt(beta_max / T), T)^2`` and
  ``beta = concat(b[:T/2], flip(b[:T/2]))``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

__all__ = ["BridgeConfig", "Bridge", "gaussian_product_coef"]


@dataclass(frozen=True)
class BridgeConfig:
    """Settings of the bridge schedule.

    Attributes:
        num_timesteps: T, the number of discrete steps (I2SB and the paper use 1000); even.
        beta_max: total scale of the symmetric schedule (I2SB: 0.3; 1.0 suits a deterministic sampler).
        beta_min: the smallest beta (I2SB: 1e-4).
    """

    num_timesteps: int = 1000
    beta_max: float = 0.3
    beta_min: float = 1e-4

    def __post_init__(self) -> None:
        if not isinstance(self.num_timesteps, int) or self.num_timesteps < 2 or self.num_timesteps % 2:
            raise ValueError(f"num_timesteps must be an even integer >= 2, got {self.num_timesteps!r}")
        if not (self.beta_max > 0 and self.beta_min > 0):
            raise ValueError(f"beta_min and beta_max must be > 0, got {self.beta_min!r}, {self.beta_max!r}")
        if self.beta_min >= self.beta_max / self.num_timesteps:
            raise ValueError(
                f"beta_min must be below beta_max / T = {self.beta_max / self.num_timesteps:g}, got {self.beta_min!r}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BridgeConfig":
        return cls(**d)


def gaussian_product_coef(sigma1: torch.Tensor, sigma2: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Coefficients of the product of N(x0, sigma1^2) and N(x1, sigma2^2) (I2SB eq. 11).

    Returns ``(mu0, mu1, var)`` with ``mu0 = sigma2^2 / (sigma1^2 + sigma2^2)``,
    ``mu1 = sigma1^2 / (sigma1^2 + sigma2^2)`` and ``var = sigma1^2 sigma2^2 / (sigma1^2 + sigma2^2)``.
    """
    denom = sigma1**2 + sigma2**2
    return sigma2**2 / denom, sigma1**2 / denom, (sigma1**2 * sigma2**2) / denom


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Shape a per-sample vector (B,) to (B, 1, ..., 1) so it broadcasts against ``like`` (B, C, *spatial)."""
    return values.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


class Bridge:
    """The bridge's schedule and its closed-form marginals. All tables are float64 on the CPU.

    Attributes (each a tensor of length T + 1, indexed by the step n):
        betas: beta_n, with beta_0 = 0.
        std_fwd: sigma_n; std_bwd: bar_sigma_n.
        mu_x0, mu_x1, std_sb: coefficients and standard deviation of q(x_n | x0, x1) (paper eq. 4).
    """

    def __init__(self, config: BridgeConfig | None = None) -> None:
        self.config = config or BridgeConfig()
        T = self.config.num_timesteps
        b = torch.linspace(math.sqrt(self.config.beta_min), math.sqrt(self.config.beta_max / T), T, dtype=torch.float64) ** 2
        half = b[: T // 2]
        betas = torch.cat([half, half.flip(0)])
        self.betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        cum = torch.cumsum(self.betas, 0)
        self.std_fwd = cum.sqrt()
        self.std_bwd = (cum[-1] - cum).clamp_min(0).sqrt()
        self.std_bwd[-1] = 0.0
        self.mu_x0, self.mu_x1, var = gaussian_product_coef(self.std_fwd, self.std_bwd)
        self.std_sb = var.sqrt()

    @property
    def num_timesteps(self) -> int:
        return self.config.num_timesteps

    def _steps(self, step: torch.Tensor | int, batch: int) -> torch.Tensor:
        step = torch.as_tensor(step, dtype=torch.long).reshape(-1).cpu()
        if step.numel() == 1:
            step = step.expand(batch)
        if step.numel() != batch:
            raise ValueError(f"expected one step or one per sample ({batch}), got {step.numel()}")
        if int(step.min()) < 0 or int(step.max()) > self.num_timesteps:
            raise ValueError(f"steps must lie in [0, {self.num_timesteps}], got {step.min().item()}..{step.max().item()}")
        return step

    def q_sample(
        self,
        step: torch.Tensor | int,
        x0: torch.Tensor,
        x1: torch.Tensor,
        noise: torch.Tensor | None = None,
        ot_ode: bool = False,
    ) -> torch.Tensor:
        """Draw x_n ~ q(x_n | x0, x1) = N(mu0 x0 + mu1 x1, s^2 I) (paper eq. 4).

        Args:
            step: n, one int or a (B,) integer tensor, in [0, T].
            x0: (B, C, *spatial) masks in [-1, 1]; x1: the images, same shape.
            noise: standard normal noise of the same shape (drawn with ``torch.randn_like`` when None).
            ot_ode: no noise at all (the mean of the posterior, I2SB's OT-ODE limit).
        """
        if x0.shape != x1.shape:
            raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
        n = self._steps(step, x0.shape[0])
        xt = _broadcast(self.mu_x0[n], x0).to(x0.device) * x0 + _broadcast(self.mu_x1[n], x1).to(x1.device) * x1
        if not ot_ode:
            noise = torch.randn_like(x0) if noise is None else noise
            xt = xt + _broadcast(self.std_sb[n], x0).to(x0.device) * noise
        return xt

    def target(self, step: torch.Tensor | int, x0: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
        """The network's regression target ``eps = (x_n - x0) / sigma_n`` (I2SB eq. 12); n must be >= 1."""
        n = self._steps(step, x0.shape[0])
        if int(n.min()) < 1:
            raise ValueError("the target is undefined at n = 0 (sigma_0 = 0); train on steps 1..T")
        return (xt - x0) / _broadcast(self.std_fwd[n], xt).to(xt.device)

    def pred_x0(self, step: torch.Tensor | int, xt: torch.Tensor, net_out: torch.Tensor) -> torch.Tensor:
        """Recover the mask estimate ``x0_hat = x_n - sigma_n * eps_hat`` from the network output."""
        n = self._steps(step, xt.shape[0])
        return xt - _broadcast(self.std_fwd[n], xt).to(xt.device) * net_out

    def posterior_coef(self, n_prev: int, n: int) -> tuple[float, float, float]:
        """Coefficients of p(x_{n'} | x0, x_n) for n' < n (Algorithm 1, DDPM posterior).

        With ``d^2 = sigma_n^2 - sigma_{n'}^2``: ``x_{n'} = (d^2/sigma_n^2) x0 + (sigma_{n'}^2/sigma_n^2) x_n
        + sqrt(sigma_{n'}^2 d^2 / sigma_n^2) z``. Returns ``(coef_x0, coef_xn, std)``.
        """
        if not 0 <= n_prev < n <= self.num_timesteps:
            raise ValueError(f"expected 0 <= n_prev < n <= {self.num_timesteps}, got n_prev={n_prev}, n={n}")
        s2_n, s2_prev = self.std_fwd[n] ** 2, self.std_fwd[n_prev] ** 2
        d2 = s2_n - s2_prev
        return float(d2 / s2_n), float(s2_prev / s2_n), float((s2_prev * d2 / s2_n).sqrt())

    def p_posterior(
        self,
        n_prev: int,
        n: int,
        x_n: torch.Tensor,
        x0: torch.Tensor,
        noise: torch.Tensor | None = None,
        ot_ode: bool = False,
    ) -> torch.Tensor:
        """One step n -> n' of the bridge posterior given an estimate of x0 (no noise when ``ot_ode`` or n' = 0)."""
        c0, cn, std = self.posterior_coef(n_prev, n)
        x_prev = c0 * x0 + cn * x_n
        if not ot_ode and n_prev > 0:
            noise = torch.randn_like(x_n) if noise is None else noise
            x_prev = x_prev + std * noise
        return x_prev
