"""Classifier-free guidance over reader labels (Ho & Salimans 2022), as the SSB paper uses it.

``eps_hat = (1 + w) * eps(x, l, n) - w * eps(x, null, n)``. The conditional and unconditional halves run
as ONE forward pass: the batch is stacked ``[cond; uncond]`` and split afterwards. ``w = 0`` skips the
unconditional half entirely and returns the conditional prediction. ``w`` may differ per row (candidates of several
readers, each served with their own strength): only the rows with ``w > 0`` are stacked again with the null label.
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
    guidance_weight: float | torch.Tensor = 0.0,
) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """Bind the image and labels; return ``predict_eps(x_n, n)`` for :func:`ssb_core.sampler.run_bridge`.

    Args:
        eps_model: the network (or any callable with its signature).
        image: (B, C_img, *spatial) the conditioning image, one per row of x_n.
        labels: (B,) reader labels.
        null_label: the label index of the unconditional branch.
        guidance_weight: w >= 0 for every row (0 = purely conditional: one half-size forward), or a (B,) tensor, one
            w per row (rows of different readers, each with their own strength); only the rows with w > 0 get an
            unconditional pass, in the same forward call.
    """
    batch = image.shape[0]
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    if isinstance(guidance_weight, torch.Tensor):
        weights = guidance_weight.detach().to("cpu", torch.float64)
        if weights.shape != (batch,) or not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
            raise ValueError(f"per-row guidance weights must be ({batch},) finite numbers >= 0, got {guidance_weight!r}")
        if bool((weights == weights[0]).all()):
            return guided_eps(eps_model, image, labels, null_label, float(weights[0]))
        return _per_row(eps_model, image, labels, null_label, weights)
    w = float(guidance_weight)
    if not w >= 0.0 or w != w or w == float("inf"):
        raise ValueError(f"guidance_weight must be a finite number >= 0, got {guidance_weight!r}")

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


def _per_row(eps_model: EpsModel, image: torch.Tensor, labels: torch.Tensor, null_label: int,
             weights: torch.Tensor) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """:func:`guided_eps` with one weight per row: ``[all rows; the guided rows with the null label]`` in one call."""
    batch = image.shape[0]
    guided = torch.nonzero(weights > 0).flatten().to(image.device)
    image2 = torch.cat([image, image[guided]])
    labels2 = torch.cat([labels, torch.full_like(labels[guided], null_label)])
    w = weights[weights > 0].to(image.device, image.dtype).reshape(-1, *([1] * (image.ndim - 1)))

    def predict_mixed(x_n: torch.Tensor, n: int) -> torch.Tensor:
        t = torch.full((image2.shape[0],), float(n), device=x_n.device)
        eps = eps_model(torch.cat([x_n, x_n[guided]]), image2, t, labels2)
        out = eps[:batch].clone()
        out[guided] = (1.0 + w) * eps[guided] - w * eps[batch:]
        return out

    return predict_mixed
