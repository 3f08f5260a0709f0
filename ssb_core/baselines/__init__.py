"""Baselines trained and evaluated in the same harness as SSB.

- :mod:`ssb_core.baselines.gaussian`: Gaussian-start conditional diffusion (the CIMD family): the same network
  and image conditioning as SSB, but sampling starts from noise (DDPM at 1000 steps, DDIM at fewer).
- :mod:`ssb_core.baselines.prob_unet`: the Probabilistic U-Net (Kohl et al. 2018).
"""

from __future__ import annotations

from ssb_core.baselines.gaussian import GaussianDiffusionConfig, GaussianDiffusionLoss, gaussian_candidates
from ssb_core.baselines.prob_unet import ProbUNet, ProbUNetConfig

__all__ = ["GaussianDiffusionConfig", "GaussianDiffusionLoss", "gaussian_candidates", "ProbUNet", "ProbUNetConfig"]
