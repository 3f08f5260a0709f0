"""Input checks shared by the model, the sampler and the loss: errors that name what was expected and what came."""

from __future__ import annotations

import torch

__all__ = ["check_image_batch", "check_labels", "check_same_shape"]


def check_image_batch(name: str, x: object, spatial_dims: int, channels: int | None = None) -> torch.Tensor:
    """Check a batch ``(B, C, *spatial)`` of floating-point, finite values; return it unchanged.

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: wrong number of dimensions or channels, an empty axis, NaN or Inf.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {x.dtype}")
    expected_ndim = spatial_dims + 2
    if x.ndim != expected_ndim:
        axes = "(B, C, H, W)" if spatial_dims == 2 else "(B, C, H, W, D)"
        raise ValueError(f"{name} must have shape {axes} ({expected_ndim} dims), got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN/Inf value(s); expected finite values")
    return x


def check_labels(labels: object, batch: int, num_labels: int) -> torch.Tensor:
    """Check reader labels: integers in ``[0, num_labels)`` (the last index is the null label), shape (B,)."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of integers, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_labels):
        raise ValueError(
            f"unknown reader label(s) {sorted(set(labels.tolist()) - set(range(num_labels)))}: "
            f"expected 0..{num_labels - 2} (readers) or {num_labels - 1} (null)"
        )
    return labels


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ValueError unless two tensors have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
