"""The one preprocessing definition: stored in checkpoints, the same windows for crops and whole scans."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.data import IntensityConvention
from ssb_core.preprocessing import LIDC64_PREPROCESSING, Preprocessing, PreprocessingError
from tests.conftest import shared_data


def test_round_trip_and_validation():
    pre = Preprocessing((32, 48), (0.5, 0.8), IntensityConvention.create("window", a_min=-1000, a_max=400), "image")
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    assert Preprocessing.from_checkpoint_data({"preprocessing": pre.to_dict()}) == pre
    with pytest.raises(PreprocessingError, match="no data\\['preprocessing'\\]"):
        Preprocessing.from_checkpoint_data({"roi_size": [64, 64]})
    with pytest.raises(PreprocessingError, match="intensity_scope"):
        Preprocessing((64, 64), (0.7, 0.7), IntensityConvention("zscore"), "scan")
    with pytest.raises(PreprocessingError, match="spacing_mm"):
        Preprocessing((64, 64), (0.0, 0.7), IntensityConvention("zscore"))


def test_each_window_is_normalised_on_its_own():
    rng = np.random.default_rng(0)
    volume = rng.normal(0, 1, (6, 100, 120)) * np.arange(1, 7)[:, None, None] * 100 + np.arange(6)[:, None, None] * 1000
    pre = Preprocessing((16, 16), (2.0, 2.0), IntensityConvention("zscore"), "window")
    ny, nx = pre.box_size((1.0, 1.0, 2.5))
    assert (ny, nx) == (32, 32)  # 16 model pixels of 2 mm = 32 voxels of 1 mm
    x = pre.model_input(volume, [1, 3, 5], 10, 20, ny, nx)
    assert tuple(x.shape) == (3, 1, 16, 16)
    flat = x.numpy().reshape(3, -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=1), 1, atol=1e-4)
    # scope "image": the window keeps the whole image's scale (a fixed HU window needs no statistics)
    hu = Preprocessing((16, 16), (2.0, 2.0), IntensityConvention.create("window", a_min=-1000, a_max=400, b_min=0, b_max=1), "image")
    y = hu.model_input(np.full((2, 40, 40), -1000.0), [0], 0, 0, 32, 32)
    np.testing.assert_allclose(y.numpy(), 0.0)


def test_window_past_the_border_repeats_edge_voxels():
    volume = np.arange(20 * 20, dtype=np.float32).reshape(1, 20, 20)
    pre = Preprocessing((8, 8), (1.0, 1.0), IntensityConvention("none"), "window")
    raw = pre.resample_boxes(volume, [0], -4, -4, 8, 8)[0, 0].numpy()
    assert raw[0, 0] == volume[0, 0, 0] and raw[4, 4] == volume[0, 0, 0] and raw[7, 7] == volume[0, 3, 3]


def test_lidc64_crops_are_already_what_the_definition_produces():
    """The training crops were z-scored per crop by the source: the definition changes them by < 1e-5."""
    images = np.load(shared_data("lidc64", "val.npz"))["images"][:32]
    again = LIDC64_PREPROCESSING.normalise_windows(images)
    assert np.abs(again - images).max() < 1e-5
