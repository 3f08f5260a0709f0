"""A candidate's lung contact (ssb_core.volume.lung): the share of a 2 mm shell around it that is lung, in HU."""

from __future__ import annotations

import numpy as np

import pytest

from ssb_core.volume.lung import is_ct_hounsfield, lung_contact, outside_body
from tests.conftest import shared_data


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


def _chest() -> np.ndarray:
    """(3, 64, 64) a CT in HU: air round a body (40 HU) holding a lung (-950 HU, as air-like as emphysema), wrapped in a
    blanket (1 pixel of -100 HU) with air between them."""
    ct = np.full((3, 64, 64), -1000.0)
    ct[:, 10:54, 10:54] = 40.0
    ct[:, 20:44, 20:44] = -950.0
    ct[:, [3, 60], 3:61] = ct[:, 3:61, [3, 60]] = -100.0
    return ct


def test_a_click_in_the_air_outside_the_body_is_told_apart_from_the_lung():
    ct = _chest()
    assert outside_body(ct, [[2, 60, 1]]) and outside_body(ct, [[0, 0, 0], [63, 63, 2]])
    assert not outside_body(ct, [[30, 30, 1]])  # the lung, even at -950 HU, is walled in by the body
    assert not outside_body(ct, [[12, 12, 1]])  # the body
    assert not outside_body(ct, [[30, 6, 1]])  # the air under the blanket is not reached from the edge
    assert not outside_body(ct, [[2, 60, 1], [30, 30, 1]])  # one click on the lung: not every click is outside
    assert not outside_body(ct + 1024.0, [[2, 60, 1]])  # not in HU: never
    assert not outside_body(ct, [])


@pytest.mark.shared_data
def test_clicks_on_a_real_chest_ct():
    """LIDC-IDRI-0001: the air clicks of scripts/negative_clicks.py (6 of 8 such clicks took 20-27 s through the model
    before the vote said "no lesion"), lung parenchyma and the nodule's centre."""
    from ssb_core.evaluation.whole_scan import read_volume

    ct, _ = read_volume(shared_data("lidc3d", "full", "LIDC-IDRI-0001", "ct.nii.gz"))
    for air in ([385, 424, 36], [227, 499, 63], [133, 47, 80], [221, 67, 108]):
        assert outside_body(ct, [air]), air
    for inside in ([289, 172, 101], [302, 351, 34], [399, 188, 58], [316, 367, 90], [161, 261, 89]):
        assert not outside_body(ct, [inside]), inside
