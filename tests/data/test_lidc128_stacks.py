"""lidc128's nodules stacked in 3D (ssb_core.data.lidc128_stacks): slice order, present readers, the click."""

from __future__ import annotations

import numpy as np

from ssb_core.data.lidc128_stacks import nodule_stacks
from tests.conftest import shared_data


def _write(tmp_path):
    """Nodule A: 3 slices stored out of order, a disc growing with slice_index, readers 0 and 2 present; nodule B: no
    reader drew it."""
    yy, xx = np.mgrid[0:128, 0:128]
    rows = []
    for slice_index, radius in ((2, 6), (0, 2), (1, 9)):
        disc = ((yy - 70) ** 2 + (xx - 50) ** 2 <= radius**2).astype(np.uint8)
        masks = np.zeros((4, 128, 128), np.uint8)
        masks[0] = masks[2] = disc
        rows.append(("P1", 0, slice_index, disc * 100 + slice_index, masks, [True, False, True, False]))
    rows.append(("P1", 1, 0, np.zeros((128, 128), np.uint8), np.zeros((4, 128, 128), np.uint8), [False] * 4))
    path = tmp_path / "val.npz"
    np.savez(path, patient_id=np.array([r[0] for r in rows]), nodule=np.array([r[1] for r in rows]),
             slice_index=np.array([r[2] for r in rows]), images=np.stack([r[3] for r in rows]).astype(np.uint8),
             masks=np.stack([r[4] for r in rows]), reader_present=np.array([r[5] for r in rows]),
             pixel_spacing_mm=np.full(len(rows), 0.6, np.float32), slice_thickness_mm=np.full(len(rows), 1.25, np.float32))
    return path


def test_a_nodule_is_its_slices_in_order_with_its_present_readers_and_a_click_at_its_widest(tmp_path):
    stacks = nodule_stacks(_write(tmp_path))
    assert [s.nodule_id for s in stacks] == ["P1_n0"]  # nobody drew P1_n1
    s = stacks[0]
    assert s.volume_zyx.shape == (3, 128, 128) and s.spacing_xyz == (0.6000000238418579, 0.6000000238418579, 1.25)
    assert s.volume_zyx[:, 0, 0].tolist() == [0, 1, 2]  # slice_index order
    assert s.readers_zyx.shape == (2, 3, 128, 128)  # readers 0 and 2
    assert s.readers_zyx.reshape(2, 3, -1).sum(-1)[0].tolist() == [13, 253, 113]  # radius 2, 9, 6
    assert s.click_ijk == (50, 70, 1)  # (i, j, k): the widest slice, at the discs' centre


def test_the_validation_split_stacks_into_coherent_volumes():
    """On the real data: every validation nodule with a reader, and adjacent crops that show the same anatomy."""
    stacks = nodule_stacks(shared_data("lidc128") / "val.npz")
    assert len(stacks) == 231
    corr = [np.corrcoef(s.volume_zyx[k].ravel(), s.volume_zyx[k + 1].ravel())[0, 1]
            for s in stacks for k in range(s.volume_zyx.shape[0] - 1)]
    assert np.median(corr) > 0.9
    for s in stacks:
        i, j, k = s.click_ijk
        assert s.readers_zyx.any(axis=0)[k, j, i] or s.readers_zyx.any(axis=0)[k].sum() < 20  # the click is on the nodule
