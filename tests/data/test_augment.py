"""The optional MONAI dict augmentation: joint, seeded, type-preserving."""

from __future__ import annotations

import numpy as np

from ssb_core.data.augment import AugmentedDataset
from ssb_core.data.base import ArraySampleDataset
from ssb_core.data.intensity import LIDC64


def _toy(n=4):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(n, 16, 16)).astype(np.float32)
    masks = (images[:, None] > 0.5).repeat(2, axis=1).astype(np.uint8)  # mask = function of the image
    return ArraySampleDataset(images, masks, np.ones((n, 2), bool), [f"c{i}" for i in range(n)], ["p"] * n, [{}] * n, LIDC64)


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
    assert changed and a.patient_ids == ds.patient_ids and a.intensity is LIDC64
