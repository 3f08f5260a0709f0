"""The optional MONAI dict augmentation: joint, seeded, type-preserving."""

from __future__ import annotations

import numpy as np

from ssb_core.data.augment import AugmentedDataset
from ssb_core.data.base import ArraySampleDataset
from ssb_core.data.intensity import IntensityConvention

NONE = IntensityConvention("none")


def _toy(n=4):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(n, 16, 16)).astype(np.float32)
    masks = (images[:, None] > 0.5).repeat(2, axis=1).astype(np.uint8)  # mask = function of the image
    return ArraySampleDataset(images, masks, np.ones((n, 2), bool), [f"c{i}" for i in range(n)], ["p"] * n, [{}] * n, NONE)


def test_joint_and_seeded():
    ds = _toy()
    a, b = AugmentedDataset(ds, seed=3), AugmentedDataset(ds, seed=3)
    changed = False
    for i in range(len(ds)):
        s, t = a[i], b[i]
        assert s["image"].dtype == np.float32 and s["masks"].dtype == np.uint8 and s["masks"].shape == (2, 16, 16)
        np.testing.assert_array_equal(s["image"], t["image"])
        np.testing.assert_array_equal(s["masks"][0], (s["image"][0] > 0.5).astype(np.uint8))  # moved together
        changed |= not np.array_equal(s["image"], ds[i]["image"])
    assert changed and a.patient_ids == ds.patient_ids and a.intensity is NONE


def _binary_toy(n=3, shape=(32, 32)):
    """Image = 1 inside a blob, 0 outside, so the mask is recoverable from the image after any warp."""
    rng = np.random.default_rng(1)
    masks = np.zeros((n, 2, *shape), np.uint8)
    for i in range(n):
        c = rng.integers(8, 24, size=len(shape))
        sl = tuple(slice(int(x) - 5, int(x) + 5) for x in c)
        masks[(i, slice(None), *sl)] = 1
    images = masks[:, 0].astype(np.float32)
    return ArraySampleDataset(images, masks, np.ones((n, 2), bool), [f"c{i}" for i in range(n)], ["p"] * n, [{}] * n, NONE)


def test_affine_keeps_image_and_masks_aligned():
    ds = _binary_toy()
    aug = AugmentedDataset(ds, seed=0, prob_flip=0.0, prob_rot90=0.0, prob_affine=1.0, rotate_range=0.5, scale_range=0.2)
    for i in range(len(ds)):
        s = aug[i]
        assert set(np.unique(s["masks"])) <= {0, 1} and s["masks"].dtype == np.uint8
        np.testing.assert_array_equal(s["masks"][0], s["masks"][1])  # every reader gets the same warp
        assert not np.array_equal(s["masks"], ds[i]["masks"])
        agree = ((s["image"][0] > 0.5) == s["masks"][0].astype(bool)).mean()
        assert agree > 0.98, agree


def test_volume_augmentation_joint():
    ds = _binary_toy(n=1, shape=(24, 24, 24))
    s = AugmentedDataset(ds, seed=2, prob_flip=1.0, prob_rot90=1.0, prob_affine=1.0)[0]
    assert s["image"].shape == (1, 24, 24, 24) and s["masks"].shape == (2, 24, 24, 24)
    assert ((s["image"][0] > 0.5) == s["masks"][0].astype(bool)).mean() > 0.98
