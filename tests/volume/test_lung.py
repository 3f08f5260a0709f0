"""A candidate's lung contact (ssb_core.volume.lung): the share of a 2 mm shell around it that is lung, in HU."""

from __future__ import annotations

import numpy as np

from ssb_core.volume.lung import is_ct_hounsfield, lung_contact


def _disk(shape=(40, 40), centre=(20, 20), radius=6) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_the_share_of_lung_around_a_candidate():
    disk = _disk()
    masks = np.stack([disk, np.zeros_like(disk)])[:, None]  # (N=2, S=1, 40, 40): a disk, and an empty candidate
    lung = np.full((1, 40, 40), -850.0)
    fat = np.full((1, 40, 40), -100.0)
    half = fat.copy()
    half[0, :, :20] = -850.0  # lung on the left half only: a juxtapleural nodule's side
    share = lung_contact(masks, lung, (0.7, 0.7))
    assert share[0] == 1.0 and np.isnan(share[1])
    assert lung_contact(masks, fat, (0.7, 0.7))[0] == 0.0
    assert 0.4 < lung_contact(masks, half, (0.7, 0.7))[0] < 0.6
    # voxels outside the image are never shell: only the lung side counts
    inside = np.zeros((40, 40), dtype=bool)
    inside[:, :20] = True
    assert lung_contact(masks, half, (0.7, 0.7), inside)[0] == 1.0


def test_the_shell_is_two_millimetres_wide_whatever_the_pixel_size():
    disk = _disk(radius=6)[None, None]
    ring = np.full((1, 40, 40), -850.0)
    ring[0][_disk(radius=9) & ~_disk(radius=6)] = 40.0  # 3 pixels of soft tissue round the disk, lung beyond
    assert lung_contact(disk, ring, (0.7, 0.7))[0] == 0.0  # 2 mm = 3 pixels of 0.7 mm: all soft tissue
    assert lung_contact(disk, ring, (2.0, 2.0))[0] == 0.0  # at least one pixel
    assert lung_contact(disk, ring, (0.4, 0.4))[0] > 0.3  # 5 pixels: past the tissue into lung
    assert lung_contact(disk, ring, (0.25, 0.25))[0] > lung_contact(disk, ring, (0.4, 0.4))[0]  # 8 pixels: further


def test_a_ct_in_hounsfield_units_is_recognised_by_its_air():
    ct = np.full((8, 64, 64), 40.0)
    ct[:, :8] = -1000.0
    assert is_ct_hounsfield(ct)
    assert not is_ct_hounsfield(ct + 1024.0)  # a CT without its rescale applied: 24..1064
    assert not is_ct_hounsfield(np.abs(np.random.default_rng(0).normal(300, 100, (8, 64, 64))))  # an MR
