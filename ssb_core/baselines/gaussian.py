"""Gaussian-start conditional diffusion for segmentation: the baseline SSB is compared with (CIMD family).

Same network as SSB (:class:`~ssb_core.network.SSBNetwork`: input ``[x_t, image]``, reader-label embedding with
a null label) and the same image conditioning, but the chain runs between the mask (t = 0) and pure Gaussian
noise (t = T) instead of the image, as in CIMD (Rahman et al. 2023) and its DDPM ancestors:

- training: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` (MONAI's ``DDPMScheduler.add_noise``), target
  ``eps``, loss ``MSE`` (the CIMD/DDPM objective; no Dice term, so the comparison isolates where sampling starts);
- sampling: ``x_T ~ N(0, I)``, then MONAI's ``DDPMScheduler`` over all T = 1000 steps (the published setting),
  or ``DDIMScheduler`` over fewer steps with ``eta`` (0 = deterministic DDIM, 1 = fresh noise at every step with
  the DDPM posterior's variance), each step through :func:`ddim_step`: the noise estimate is re-derived from the
  clipped mask estimate, as DDPM's posterior mean implicitly does (MONAI's DDIM clips ``x0_hat`` but keeps the
  network's noise estimate for the direction term, which left deterministic DDIM at D_max 0.14 where DDPM reached
  0.67 on the same weights; ``docs/baselines.md``);
- classifier-free guidance exactly as SSB's (:func:`ssb_core.guidance.guided_eps`).

Masks are ``x0 = 2 mask - 1``; candidates are returned as probabilities ``(x0 + 1) / 2`` like SSB's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

from ssb_core.guidance import EpsModel, guided_eps
from ssb_core.loss import LossOutput, drop_labels
from ssb_core.sampler import ProgressCallback
from ssb_core.validation import check_image_batch, check_same_shape

__all__ = ["GaussianDiffusionConfig", "GaussianDiffusionLoss", "gaussian_candidates", "ddim_step"]


@dataclass(frozen=True)
class GaussianDiffusionConfig:
    """Attributes:
    num_train_timesteps: T (1000 as in CIMD).
    schedule: MONAI noise schedule name ("linear_beta" = DDPM's 1e-4 .. 0.02).
    p_uncond: probability of the null reader label in training (classifier-free guidance).
    """

    num_train_timesteps: int = 1000
    schedule: str = "linear_beta"
    p_uncond: float = 0.1

    def __post_init__(self) -> None:
        if self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps must be >= 2, got {self.num_train_timesteps!r}")
        if not 0.0 <= self.p_uncond <= 1.0:
            raise ValueError(f"p_uncond must lie in [0, 1], got {self.p_uncond!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GaussianDiffusionConfig":
        return cls(**d)

    def scheduler(self, nfe: int | None = None) -> DDPMScheduler | DDIMScheduler:
        """DDPM over every step when ``nfe`` is None or T (clipping x0_hat to [-1, 1]); DDIM over ``nfe`` steps
        otherwise (``clip_sample`` off: :func:`ddim_step` clips and keeps the step consistent)."""
        T = self.num_train_timesteps
        if nfe is None or nfe == T:
            return DDPMScheduler(num_train_timesteps=T, schedule=self.schedule, clip_sample=True)
        if not 1 <= nfe < T:
            raise ValueError(f"nfe must be in [1, {T}], got {nfe}")
        sched = DDIMScheduler(num_train_timesteps=T, schedule=self.schedule, clip_sample=False)  # ddim_step clips
        sched.set_timesteps(nfe)
        return sched


class GaussianDiffusionLoss:
    """``MSE(eps_theta(x_t, image, t, l), eps)`` with reader-label dropout; same call signature as
    :class:`ssb_core.loss.SSBLoss`, so the training loop can run either."""

    def __init__(self, config: GaussianDiffusionConfig | None = None, null_label: int = 4) -> None:
        self.config = config or GaussianDiffusionConfig()
        self.null_label = int(null_label)
        self._sched = DDPMScheduler(num_train_timesteps=self.config.num_train_timesteps, schedule=self.config.schedule)

    def __call__(self, eps_model: EpsModel, masks: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
                 generator: torch.Generator | None = None) -> LossOutput:
        """masks (B, 1, *spatial) in {0, 1}; images (B, 1, *spatial) normalised; labels (B,)."""
        check_image_batch("images", images, images.ndim - 2)
        check_same_shape("masks", masks, "images", images)
        B, device = images.shape[0], images.device
        t = torch.randint(0, self.config.num_train_timesteps, (B,), generator=generator)
        noise = torch.randn(images.shape, generator=generator, dtype=images.dtype).to(device)
        labels = drop_labels(labels, self.null_label, self.config.p_uncond, generator)
        x0 = masks * 2.0 - 1.0
        xt = self._sched.add_noise(x0, noise, t.to(device))
        eps = eps_model(xt, images, t.to(device).float(), labels)
        mse = torch.mean((eps - noise) ** 2)
        abar = self._sched.alphas_cumprod[t].to(device).reshape(-1, *([1] * (xt.ndim - 1)))
        x0_hat = (xt - (1 - abar).sqrt() * eps) / abar.sqrt()
        return LossOutput(loss=mse, mse=mse.detach(), dice=torch.zeros((), device=device), x0_hat=x0_hat.detach())


def ddim_step(sched: DDIMScheduler, eps: torch.Tensor, t: int, x: torch.Tensor, eta: float,
              generator: torch.Generator | None = None, clip: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """One DDIM step whose direction term agrees with the clipped mask estimate.

    ``x0_hat = clip((x - sqrt(1 - abar_t) eps) / sqrt(abar_t))``, then ``eps`` is re-derived from it,
    ``(x - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t)``, and MONAI's step (its indexing and variance, clipping off)
    runs on that: with ``eta = 1`` over every timestep this is exactly MONAI's clipped DDPM step (tested). Returns
    x at the previous timestep. ``sched`` must have ``clip_sample`` False (checked).
    """
    if sched.clip_sample:
        raise ValueError("ddim_step clips itself: build the DDIMScheduler with clip_sample=False")
    abar = sched.alphas_cumprod[int(t)].to(x.dtype)
    x0 = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(*clip)
    eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
    prev, _ = sched.step(eps, int(t), x, eta=float(eta), generator=generator)
    return prev


@torch.inference_mode()
def gaussian_candidates(
    eps_model: EpsModel,
    config: GaussianDiffusionConfig,
    images: torch.Tensor,
    num_candidates: int,
    nfe: int | None = None,
    num_readers: int = 4,
    guidance_weight: float = 0.0,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    eta: float = 1.0,
) -> torch.Tensor:
    """``num_candidates`` masks per image from noise: (B, 1, *spatial) images -> (B, N, 1, *spatial) probabilities.

    Readers cycle over the candidates as in SSB. One generator seeded ``seed`` draws the start noise and every
    step's noise: the same seed and batch give the same candidates. ``eta``: DDIM's noise weight (fewer than T
    steps only; DDPM is always stochastic).
    """
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
    B, N = images.shape[0], int(num_candidates)
    device = images.device
    sched = config.scheduler(nfe)
    gen = torch.Generator().manual_seed(int(seed))
    x1 = images.repeat(N, *([1] * (images.ndim - 1)))
    labels = torch.tensor([k % num_readers for k in range(N)], device=device).repeat_interleave(B)
    predict = guided_eps(eps_model, x1, labels, null_label=num_readers, guidance_weight=guidance_weight)
    x = torch.randn(x1.shape, generator=gen).to(device)
    steps = sched.timesteps.tolist()
    for i, t in enumerate(steps):
        eps = predict(x, int(t))
        if isinstance(sched, DDIMScheduler):
            x = ddim_step(sched, eps.cpu(), int(t), x.cpu(), eta, generator=gen).to(device)
        else:
            x, _ = sched.step(eps.cpu(), int(t), x.cpu(), generator=gen)
            x = x.to(device)
        if progress is not None:
            progress(i + 1, len(steps))
    probs = ((x.clamp(-1, 1) + 1) / 2).reshape(N, B, *x.shape[1:])
    return probs.transpose(0, 1).contiguous()
