"""The Probabilistic U-Net (Kohl et al., NeurIPS 2018), the VAE baseline of ambiguous segmentation.

A U-Net gives per-pixel features of the image; a *prior net* maps the image, and a *posterior net* the image
and a reader's mask, to an axis-aligned Gaussian over a small latent z (dimension 6 in the paper); ``fcomb``
broadcasts z over the feature map and mixes it in with 1×1 convolutions to give the mask logits.

- training (ELBO, per pixel): ``mean BCE(logits(image, z ~ posterior), mask) + beta * KL(posterior || prior) / (H W)``:
  Kohl et al.'s reconstruction term is summed over the pixels, so per pixel the KL is divided by their number
  (with a plain mean BCE + KL the KL would outweigh the masks 4096-fold at 64×64 and the posterior collapses);
- sampling: ``z ~ prior(image)``, one z per candidate: N candidates cost one U-Net pass plus N fcomb passes.

The U-Net is MONAI's ``BasicUNet``; the encoders are MONAI ``Convolution`` blocks. Shapes: images and masks
``(B, 1, H, W)``; candidates ``(B, N, 1, H, W)`` probabilities (sigmoid of the logits).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.nets import BasicUNet
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

__all__ = ["ProbUNetConfig", "ProbUNet"]


@dataclass(frozen=True)
class ProbUNetConfig:
    """Attributes:
    features: BasicUNet channels per level (6 levels, MONAI's convention).
    latent_dim: size of z (6 in Kohl et al.).
    encoder_channels: channels of the prior / posterior encoders (one stride-2 block each).
    beta: weight of the KL term.
    """

    features: tuple[int, ...] = (16, 32, 64, 64, 128, 16)
    latent_dim: int = 6
    encoder_channels: tuple[int, ...] = (16, 32, 64, 64)
    beta: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(int(c) for c in self.features))
        object.__setattr__(self, "encoder_channels", tuple(int(c) for c in self.encoder_channels))
        if len(self.features) != 6:
            raise ValueError(f"features must list 6 channel counts (MONAI BasicUNet), got {list(self.features)}")
        if self.latent_dim < 1 or self.beta < 0:
            raise ValueError(f"latent_dim must be >= 1 and beta >= 0, got {self.latent_dim}, {self.beta}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"], d["encoder_channels"] = list(self.features), list(self.encoder_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProbUNetConfig":
        return cls(**d)


class _GaussianEncoder(nn.Module):
    """Strided convolutions, global average pooling, then a 1×1 convolution to (mu, log_sigma)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        blocks, c_in = [], in_channels
        for c in channels:
            blocks.append(Convolution(2, c_in, c, strides=2, kernel_size=3, act="RELU", norm="INSTANCE"))
            c_in = c
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv2d(c_in, 2 * latent_dim, kernel_size=1)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> Independent:
        h = self.head(self.body(x).mean(dim=(2, 3), keepdim=True)).flatten(1)
        mu, log_sigma = h[:, : self.latent_dim], h[:, self.latent_dim :]
        return Independent(Normal(mu, torch.exp(log_sigma.clamp(-10, 10))), 1)


class ProbUNet(nn.Module):
    """Probabilistic U-Net for one binary mask channel."""

    def __init__(self, config: ProbUNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ProbUNetConfig()
        self.unet = BasicUNet(spatial_dims=2, in_channels=1, out_channels=c.features[-1], features=c.features)
        self.prior = _GaussianEncoder(1, c.encoder_channels, c.latent_dim)
        self.posterior = _GaussianEncoder(2, c.encoder_channels, c.latent_dim)
        f = c.features[-1]
        self.fcomb = nn.Sequential(
            nn.Conv2d(f + c.latent_dim, f, 1), nn.ReLU(), nn.Conv2d(f, f, 1), nn.ReLU(), nn.Conv2d(f, 1, 1)
        )

    def _combine(self, features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        zmap = z[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.fcomb(torch.cat([features, zmap], dim=1))

    def forward(self, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(BCE, KL) of the ELBO for images (B, 1, H, W) and one reader's masks (B, 1, H, W) in {0, 1}: the BCE
        averaged over pixels, the KL per image (batch mean). The loss is ``BCE + beta * KL / (H W)``.

        ``z ~ posterior`` by reparameterisation with noise from ``generator`` (CPU; the global stream when None).
        ``forward`` (rather than a separate method) so that DistributedDataParallel sees the call.
        """
        if images.shape != masks.shape:
            raise ValueError(f"images and masks must have the same shape, got {tuple(images.shape)} and {tuple(masks.shape)}")
        features = self.unet(images)
        prior = self.prior(images)
        post = self.posterior(torch.cat([images, masks * 2 - 1], dim=1))
        mu, sigma = post.base_dist.loc, post.base_dist.scale
        z = mu + sigma * torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        logits = self._combine(features, z)
        bce = F.binary_cross_entropy_with_logits(logits.float(), masks.float())
        kl = kl_divergence(post, prior).mean()
        return bce, kl

    def loss(self, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The ELBO loss ``BCE + beta * KL`` and its parts as floats."""
        bce, kl = self(images, masks, generator)
        return self.elbo(bce, kl, images), {"bce": float(bce.detach()), "kl": float(kl.detach())}

    def elbo(self, bce: torch.Tensor, kl: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The per-pixel negative ELBO from :meth:`forward`'s parts."""
        return bce + self.config.beta * kl / float(images.shape[-1] * images.shape[-2])

    @torch.inference_mode()
    def sample(self, images: torch.Tensor, num_candidates: int, seed: int = 0) -> torch.Tensor:
        """(B, 1, H, W) -> (B, N, 1, H, W) probabilities, z_k ~ prior drawn from a generator seeded ``seed``."""
        features = self.unet(images)
        prior = self.prior(images)
        mu, sigma = prior.base_dist.loc, prior.base_dist.scale
        gen = torch.Generator().manual_seed(int(seed))
        out = []
        for _ in range(int(num_candidates)):
            z = mu + sigma * torch.randn(mu.shape, generator=gen).to(mu.device)
            out.append(torch.sigmoid(self._combine(features, z)))
        return torch.stack(out, dim=1)
