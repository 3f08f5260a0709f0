"""Segmentation Schrödinger Bridge (SSB): an image-to-mask diffusion bridge for ambiguous segmentation.

Modules, each with one job, meeting only through plain tensors and callables:

- :mod:`ssb_core.bridge`      the I2SB bridge maths (schedule, q_sample, posterior step); no network import.
- :mod:`ssb_core.network`     MONAI's DiffusionModelUNet with a reader-label embedding (plus a null label).
- :mod:`ssb_core.sampler`     ``set_timesteps`` / ``step`` sampler and the sampling loop over a prediction callable.
- :mod:`ssb_core.guidance`    classifier-free guidance: batched conditional / unconditional predictions.
- :mod:`ssb_core.loss`        L_SSB = noise regression + gamma * Dice(x0_hat, mask), with label dropout.
- :mod:`ssb_core.checkpoint`  self-describing checkpoints (weights + settings + data conventions + provenance).
- :mod:`ssb_core.metrics`     GED, D_max, S_c, D_A, CI, D_DDI, HM-IoU for ambiguous segmentation.
"""

from __future__ import annotations

__version__ = "0.1.0"
