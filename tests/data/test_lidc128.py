"""The lidc128 format: each crop resampled by its own pixel size to the model's, reader presence as the data defines it,
and the training windows cut from a larger context (``ssb_core.training.data.off_centre_pairs`` with ``window``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.data import DatasetError, build_dataset
from ssb_core.data.lidc128 import resample_crops
from ssb_core.training.data import augment_pairs
from tests.conftest import shared_data


def _synthetic(tmp_path, spacing=0.5, n=3):
    """Crops of a disc of radius 10 mm at ``spacing`` mm per pixel; reader 1 present and empty, reader 3 absent."""
    yy, xx = np.mgrid[0:128, 0:128]
    disc = ((yy - 63.5) ** 2 + (xx - 63.5) ** 2) * spacing**2 <= 10.0**2
    masks = np.zeros((n, 4, 128, 128), np.uint8)
    masks[:, 0] = masks[:, 2] = disc
    present = np.tile([True, True, True, False], (n, 1))
    path = tmp_path / "lidc128.npz"
    np.savez(path, images=(disc * 200 + 20).astype(np.uint8)[None].repeat(n, 0), masks=masks, reader_present=present,
             patient_id=np.array([f"P{i}" for i in range(n)]), nodule=np.zeros(n, int), slice_index=np.arange(n),
             pixel_spacing_mm=np.full(n, spacing, np.float32), slice_thickness_mm=np.full(n, 2.5, np.float32))
    return path, disc


@pytest.mark.parametrize("spacing", [0.5, 0.7, 0.9])
def test_each_crop_is_resampled_by_its_own_pixel_size(tmp_path, spacing):
    path, _ = _synthetic(tmp_path, spacing)
    ds = build_dataset({"format": "lidc128", "path": str(path)})
    s = ds[0]
    area_mm2 = s["masks"][0].sum() * 0.7**2  # the model's pixels
    assert s["image"].shape == (1, 64, 64) and area_mm2 == pytest.approx(np.pi * 100, rel=0.06)
    assert s["meta"]["spacing"] == [0.7, 0.7] and s["meta"]["native_spacing_mm"] == pytest.approx(spacing)
    assert abs(float(s["image"].mean())) < 1e-5 and float(s["image"].std()) == pytest.approx(1.0, abs=1e-4)  # per window
    # reader 1 present with an empty mask (no nodule on this slice: real evidence), reader 3 absent
    assert s["reader_present"].tolist() == [True, True, True, False] and s["masks"][1].sum() == 0


def test_a_context_around_the_nodule_for_training_and_its_centre_window(tmp_path):
    path, _ = _synthetic(tmp_path, 0.6)
    ctx = build_dataset({"format": "lidc128", "path": str(path), "context": 96})
    win = build_dataset({"format": "lidc128", "path": str(path)})
    assert ctx[0]["image"].shape == (1, 96, 96) and ctx.window_size == (64, 64)
    # the training loop cuts the model's window from the context; unshifted, it is the centre window, normalised on its own
    images = torch.from_numpy(np.stack([ctx[i]["image"] for i in range(3)]))
    masks = torch.from_numpy(np.stack([ctx[i]["masks"][:1] for i in range(3)])).float()
    norm = ctx.intensity.apply
    out_i, out_m = augment_pairs(images, masks, torch.Generator().manual_seed(0), flips=False, rot90=False, intensity=0.0,
                                 normalise=norm, window=(64, 64))
    assert out_i.shape == (3, 1, 64, 64)
    centre = win[0]
    assert np.abs(out_i[0, 0].numpy() - centre["image"][0]).mean() < 0.05
    assert (out_m[0, 0].numpy() != centre["masks"][0]).mean() < 0.01


def test_off_centre_windows_from_a_context_show_real_anatomy_and_keep_only_the_lesion_under_the_centre(tmp_path):
    path, _ = _synthetic(tmp_path, 0.6)
    ctx = build_dataset({"format": "lidc128", "path": str(path), "context": 96})
    images = torch.from_numpy(np.stack([ctx[0]["image"]] * 32))
    masks = torch.from_numpy(np.stack([ctx[0]["masks"][:1]] * 32)).float()
    out_i, out_m = augment_pairs(images, masks, torch.Generator().manual_seed(1), flips=False, rot90=False, intensity=0.0,
                                 off_centre=1.0, max_shift=0.45, normalise=ctx.intensity.apply, window=(64, 64))
    centre_hit = out_m[:, 0, 28:36, 28:36].amax(dim=(1, 2)) > 0
    kept = out_m.flatten(1).sum(1) > 0
    assert (kept == centre_hit).all()  # a target only where the lesion reaches the window's centre
    assert kept.any() and (~kept).any()
    stats = out_i.flatten(1)
    assert torch.allclose(stats.mean(1), torch.zeros(32), atol=1e-4)  # every cut window normalised on its own


def test_resample_crops_keeps_masks_binary_and_images_unnormalised():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (4, 128, 128)).astype(np.uint8)
    masks = (rng.random((4, 4, 128, 128)) > 0.5).astype(np.uint8)
    out_i, out_m = resample_crops(images, masks, np.array([0.5, 0.6, 0.7, 0.95]), 64, 0.7)
    assert out_i.shape == (4, 64, 64) and out_m.shape == (4, 4, 64, 64) and set(np.unique(out_m)) <= {0, 1}
    assert 0 <= out_i.min() and out_i.max() <= 255


def test_a_file_without_pixel_sizes_is_refused_naming_it(tmp_path):
    path, _ = _synthetic(tmp_path)
    a = dict(np.load(path))
    del a["pixel_spacing_mm"]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **a)
    with pytest.raises(DatasetError, match=r"bad\.npz.*pixel_spacing_mm"):
        build_dataset({"format": "lidc128", "path": str(bad)})
    with pytest.raises(ValueError, match="context >= window"):
        build_dataset({"format": "lidc128", "path": str(path), "context": 32})


def test_the_real_lidc128_val_split():
    ds = build_dataset({"format": "lidc128", "path": str(shared_data("lidc128", "val.npz"))})
    assert len(ds) == 1316 and len(set(ds.patient_ids)) == 69
    spacings = {m["native_spacing_mm"] for m in ds.metas}
    assert len(spacings) > 5 and min(spacings) < 0.6 < 0.8 < max(spacings)  # native sizes, not one assumed
