"""Sampling the bridge from the image endpoint back to a mask: a scheduler with a tiny interface, and its loop.

The interface follows diffusers' schedulers: ``set_timesteps(nfe)`` chooses the steps, ``.timesteps`` lists
them, and ``step(model_output, timestep, sample)`` returns the next state. The loop :func:`run_bridge` takes a
prediction callable, so the sampler never imports the network (I2SB's ``pred_x0_fn``).

One step n -> n' (Algorithm 1 of the SSB paper, the DDPM posterior of I2SB):

1. ``x0_hat = x_n - sigma_n * eps_hat``  (clipped to [-1, 1] when ``clip_x0``)
2. ``x_{n'} = (d^2/sigma_n^2) x0_hat + (sigma_{n'}^2/sigma_n^2) x_n + sqrt(sigma_{n'}^2 d^2/sigma_n^2) z``,
   ``d^2 = sigma_n^2 - sigma_{n'}^2``; no ``z`` on the last step (n' = 0) or in the deterministic mode.

NFE (network function evaluations) = the number of steps; the steps are spread evenly over [0, T]
(``round(linspace(T, 0, nfe + 1))``), so NFE = 1 maps the image to ``x0_hat`` in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ssb_core.bridge import Bridge

__all__ = ["BridgeSampler", "SamplerStepOutput", "run_bridge", "ProgressCallback"]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(steps_done, nfe)`` after every step."""


@dataclass
class SamplerStepOutput:
    """What one step returns: the state at the next step and the mask estimate it used (both like ``sample``)."""

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


class BridgeSampler:
    """Posterior sampler of the bridge between ``n = T`` (the image) and ``n = 0`` (the mask).

    Args:
        bridge: the schedule.
        stochastic: draw ``z`` on every step but the last (the bridge's SDE); False gives the deterministic
            "OT-ODE" sampler, whose only randomness is the start.
        clip_x0: clip the mask estimate to [-1, 1] before each posterior step.
    """

    def __init__(self, bridge: Bridge, stochastic: bool = True, clip_x0: bool = True) -> None:
        self.bridge = bridge
        self.stochastic = bool(stochastic)
        self.clip_x0 = bool(clip_x0)
        self.timesteps: torch.Tensor = torch.empty(0, dtype=torch.long)
        self._prev: dict[int, int] = {}

    @property
    def nfe(self) -> int:
        return int(self.timesteps.numel())

    def set_timesteps(self, nfe: int) -> None:
        """Choose ``nfe`` steps, evenly spread over [0, T]; ``self.timesteps`` lists them from T down."""
        T = self.bridge.num_timesteps
        if isinstance(nfe, bool) or not isinstance(nfe, int):
            raise TypeError(f"nfe must be an int, got {type(nfe).__name__}")
        if not 1 <= nfe <= T:
            raise ValueError(f"nfe must be in [1, {T}], got {nfe}")
        grid = torch.linspace(T, 0, nfe + 1, dtype=torch.float64).round().long()
        self.timesteps = grid[:-1]
        self._prev = {int(n): int(p) for n, p in zip(grid[:-1], grid[1:])}

    def prev_timestep(self, timestep: int) -> int:
        """The step that follows ``timestep`` in the current schedule."""
        try:
            return self._prev[int(timestep)]
        except KeyError:
            raise ValueError(f"timestep {timestep} is not in the schedule {self.timesteps.tolist()}; call set_timesteps first") from None

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        noise: torch.Tensor | None = None,
    ) -> SamplerStepOutput:
        """Advance ``sample`` (x_n, shape (B, C, *spatial)) from ``timestep`` n to the next step.

        Args:
            model_output: eps_hat, same shape as ``sample``.
            noise: standard normal noise for ``z`` (drawn with ``randn_like`` when None and needed).
        """
        if model_output.shape != sample.shape:
            raise ValueError(f"model_output and sample must have the same shape, got {tuple(model_output.shape)} and {tuple(sample.shape)}")
        n = int(timestep)
        n_prev = self.prev_timestep(n)
        # 1. mask estimate from the eps prediction
        x0_hat = self.bridge.pred_x0(n, sample, model_output)
        if self.clip_x0:
            x0_hat = x0_hat.clamp(-1.0, 1.0)
        # 2. posterior p(x_{n'} | x0_hat, x_n)
        x_prev = self.bridge.p_posterior(n_prev, n, sample, x0_hat, noise=noise, ot_ode=not self.stochastic)
        return SamplerStepOutput(prev_sample=x_prev, pred_x0=x0_hat)


def run_bridge(
    predict_eps: Callable[[torch.Tensor, int], torch.Tensor],
    x_start: torch.Tensor,
    sampler: BridgeSampler,
    noise_fn: Callable[[], torch.Tensor] | None = None,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Run the sampler from ``x_start`` (x_T, the image endpoint) to n = 0.

    Args:
        predict_eps: ``predict_eps(x_n, n) -> eps_hat`` with ``x_n`` of shape (B, C, *spatial).
        x_start: (B, C, *spatial) the state at n = T.
        sampler: a sampler on which ``set_timesteps`` was called.
        noise_fn: returns standard normal noise shaped like ``x_start``, called once per stochastic step
            (seeded noise for reproducible candidates); ``randn_like`` when None.
        progress: ``progress(steps_done, nfe)`` after each step.

    Returns:
        (B, C, *spatial) the final state x_0 (= the last mask estimate).
    """
    if sampler.nfe == 0:
        raise ValueError("the sampler has no timesteps: call set_timesteps(nfe) first")
    x = x_start
    for i, n in enumerate(sampler.timesteps.tolist()):
        eps = predict_eps(x, n)
        needs_noise = sampler.stochastic and sampler.prev_timestep(n) > 0
        noise = noise_fn() if (needs_noise and noise_fn is not None) else None
        x = sampler.step(eps, n, x, noise=noise).prev_sample
        if progress is not None:
            progress(i + 1, sampler.nfe)
    return x
