"""Optional MONAI dict augmentation of sample dicts (flips, 90-degree rotations, affine; image and masks together).

The training loop augments on the batch itself (:func:`ssb_core.training.data.augment_pairs`, resumable);
this wrapper is for datasets used elsewhere (evaluation of robustness, other training code). Spatial
transforms act jointly on ``image`` (1, H, W[, D]) and ``masks`` (R, H, W[, D]): MONAI treats the first axis
as channels, so every reader mask gets the same transform as the image. Seeded (``set_random_state``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from torch.utils.data import Dataset

__all__ = ["make_augment", "AugmentedDataset"]

logger = logging.getLogger(__name__)

KEYS = ("image", "masks")


def make_augment(seed: int = 0, prob_flip: float = 0.5, prob_rot90: float = 0.5, spatial_dims: int = 2,
                 prob_affine: float = 0.0, rotate_range: float = 0.26, scale_range: float = 0.1,
                 translate_frac: float = 0.05, spatial_size: tuple[int, ...] | None = None):
    """A seeded MONAI ``Compose`` on keys ``image`` and ``masks``: ``RandFlipd`` (each spatial axis),
    ``RandRotate90d`` (first two spatial axes) and, when ``prob_affine > 0``, ``RandAffined``.

    The affine draws ONE transform per sample for image and masks: in-plane rotation up to ``rotate_range``
    radians (about the last axis for volumes), isotropic-ish scaling ``1 +- scale_range`` per axis and a shift
    of up to ``translate_frac`` of ``spatial_size`` (the image's (H, W[, D]); needed for the shift). The image
    is resampled bilinearly with border padding, the masks with nearest neighbour and zero padding, so masks
    stay binary.
    """
    from monai.transforms import Compose, RandAffined, RandFlipd, RandRotate90d

    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    ts: list[Any] = [RandFlipd(keys=KEYS, prob=prob_flip, spatial_axis=a) for a in range(spatial_dims)]
    ts.append(RandRotate90d(keys=KEYS, prob=prob_rot90, max_k=3, spatial_axes=(0, 1)))
    if prob_affine > 0:
        rot = rotate_range if spatial_dims == 2 else (0.0, 0.0, rotate_range)
        shift = None if spatial_size is None else tuple(translate_frac * s for s in spatial_size)
        ts.append(RandAffined(keys=KEYS, prob=prob_affine, rotate_range=rot, scale_range=(scale_range,) * spatial_dims,
                              translate_range=shift, mode=("bilinear", "nearest"), padding_mode=("border", "zeros")))
    comp = Compose(ts)
    comp.set_random_state(seed=seed)
    return comp


def _to_numpy(x: Any, dtype: np.dtype) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x), dtype=dtype)


class AugmentedDataset(Dataset):
    """Wraps a dataset of sample dicts; applies :func:`make_augment` to ``image`` and ``masks`` on access.

    Keeps ``patient_ids`` / ``intensity`` of the wrapped dataset. Returned arrays are numpy again (float32 /
    uint8). Non-square images skip the 90-degree rotation. ``prob_affine`` > 0 adds ``RandAffined`` (see
    :func:`make_augment`; ``affine`` passes its other keywords).
    """

    def __init__(self, dataset: Dataset, seed: int = 0, prob_flip: float = 0.5, prob_rot90: float = 0.5,
                 prob_affine: float = 0.0, **affine: Any) -> None:
        self.dataset = dataset
        first = dataset[0]
        spatial = first["image"].ndim - 1
        square = first["image"].shape[1] == first["image"].shape[2]
        self.transform = make_augment(seed, prob_flip, prob_rot90 if square else 0.0, spatial_dims=spatial,
                                      prob_affine=prob_affine, spatial_size=tuple(first["image"].shape[1:]), **affine)
        self.patient_ids = getattr(dataset, "patient_ids", None)
        self.intensity = getattr(dataset, "intensity", None)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.dataset[index])
        out = self.transform({k: sample[k] for k in KEYS})
        sample["image"] = _to_numpy(out["image"], np.float32)
        sample["masks"] = (_to_numpy(out["masks"], np.float32) > 0.5).astype(np.uint8)
        return sample
