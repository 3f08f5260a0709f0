"""Classifier-free guidance over reader labels (Ho & Salimans 2022), as the SSB paper uses it.

``eps_hat = (1 + w) * eps(x, l, n) - w * eps(x, null, n)``. The conditional and unconditional halves run
as ONE forward pass: the batch is stacked ``[cond; uncond]`` and split afterwards. ``w = 0`` skips the
unconditional half entirely and returns the conditional prediction.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["EpsModel", "guided_eps"]

EpsModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``eps_model(x_n, image, timesteps, labels) -> eps``, shapes (B, C, *spatial), (B, C_img, *spatial), (B,), (B,)."""


def guided_eps(
    eps_model: EpsModel,
    image: torch.Tensor,
    labels: torch.Tensor,
    null_label: int,
    guidance_weight: float = 0.0,
) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """Bind the image and labels; return ``predict_eps(x_n, n)`` for :func:`ssb_core.sampler.run_bridge`.

    Args:
        eps_model: the network (or any callable with its signature).
        image: (B, C_img, *spatial) the conditioning image, one per row of x_n.
        labels: (B,) reader labels.
        null_label: the label index of the unconditional branch.
        guidance_weight: w >= 0; 0 = purely conditional (one half-size forward).
    """
    w = float(guidance_weight)
    if not w >= 0.0 or w != w or w == float("inf"):
        raise ValueError(f"guidance_weight must be a finite number >= 0, got {guidance_weight!r}")
    if labels.shape != (image.shape[0],):
        raise ValueError(f"labels must have shape ({image.shape[0]},), got {tuple(labels.shape)}")
    batch = image.shape[0]

    if w == 0.0:

        def predict_eps(x_n: torch.Tensor, n: int) -> torch.Tensor:
            t = torch.full((batch,), float(n), device=x_n.device)
            return eps_model(x_n, image, t, labels)

        return predict_eps

    image2 = torch.cat([image, image])
    labels2 = torch.cat([labels, torch.full_like(labels, null_label)])

    def predict_guided(x_n: torch.Tensor, n: int) -> torch.Tensor:
        t = torch.full((2 * batch,), float(n), device=x_n.device)
        eps = eps_model(torch.cat([x_n, x_n]), image2, t, labels2)
        cond, uncond = eps[:batch], eps[batch:]
        return (1.0 + w) * cond - w * uncond

    return predict_guided
