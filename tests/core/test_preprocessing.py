"""The one preprocessing definition: stored in checkpoints (also legacy ones), the same windows for crops and whole scans."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ssb_core.data import IntensityConvention
from ssb_core.preprocessing import LIDC64_PREPROCESSING, LegacyIntensityError, Preprocessing, PreprocessingError
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


def _ckpt(data: dict | None, size_multiple: int = 16) -> SimpleNamespace:
    """What :meth:`Preprocessing.from_checkpoint` reads of an SSBCheckpoint: ``data`` and the network's size multiple."""
    return SimpleNamespace(data=data, network=SimpleNamespace(size_multiple=size_multiple))


def test_checkpoint_data_reads_back():
    pre = Preprocessing((32, 48), (0.5, 0.8), IntensityConvention.create("window", a_min=-1000, a_max=400), "image")
    data = pre.checkpoint_data()
    assert data["roi_size"] == [32, 48] and data["spacing"] == [0.5, 0.8] and data["intensity"]["kind"] == "window"
    assert Preprocessing.is_recorded(data) and not Preprocessing.is_recorded({"roi_size": [32, 48]})
    assert Preprocessing.from_checkpoint(_ckpt(data), 0.7) == pre
    # the flat entries alone (a legacy reader) give the same window, pixel size and convention
    legacy = Preprocessing.from_checkpoint(_ckpt({k: v for k, v in data.items() if k != "preprocessing"}), 0.7)
    assert (legacy.roi_size, legacy.spacing_mm, legacy.intensity) == (pre.roi_size, pre.spacing_mm, pre.intensity)


@pytest.mark.parametrize("spacing, expected", [([2.5, 0.8, 0.6], (0.8, 0.6)), ([0.0, 0.8, 0.6], (0.8, 0.6)), (0.9, (0.9, 0.9)),
                                               ([], (0.7, 0.7)), (None, (0.7, 0.7)), ([0.0, 1.0], (0.7, 0.7))])
def test_legacy_checkpoint_spacing_and_fallback(spacing, expected, caplog):
    data = {"roi_size": [64, 64], "intensity": {"kind": "window", "a_min": -1000, "a_max": 400}}
    if spacing is not None:
        data["spacing"] = spacing
    with caplog.at_level("WARNING", logger="ssb_core.preprocessing"):
        pre = Preprocessing.from_checkpoint(_ckpt(data), 0.7)
    assert pre.roi_size == (64, 64) and pre.spacing_mm == expected
    assert pre.intensity.kind == "window" and pre.intensity_scope == "image"
    assert "no data['preprocessing']" in caplog.text and "scripts/set_preprocessing.py" in caplog.text


def test_legacy_checkpoint_errors():
    with pytest.raises(PreprocessingError, match=r"data\['roi_size'\] must be \[H, W\].*got 64"):
        Preprocessing.from_checkpoint(_ckpt({"roi_size": 64}), 0.7)
    with pytest.raises(PreprocessingError, match=r"data\['roi_size'\] must be \[H, W\].*got None"):
        Preprocessing.from_checkpoint(_ckpt(None), 0.7)
    with pytest.raises(LegacyIntensityError, match="checkpoint intensity convention 'bogus': unknown intensity"):
        Preprocessing.from_checkpoint(_ckpt({"roi_size": [64, 64], "intensity": "bogus"}), 0.7)
    # a caller's convention replaces the unusable one; without an entry the legacy default is "none"
    fixed = Preprocessing.from_checkpoint(_ckpt({"roi_size": [64, 64], "intensity": "bogus"}), 0.7, IntensityConvention("zscore"))
    assert fixed.intensity == IntensityConvention("zscore")
    assert Preprocessing.from_checkpoint(_ckpt({"roi_size": [64, 64]}), 0.7).intensity == IntensityConvention("none")


def test_from_checkpoint_override_and_network_multiple():
    pre = Preprocessing((32, 32), (0.5, 0.5), IntensityConvention("zscore"), "window")
    data = {"preprocessing": pre.to_dict()}
    window = IntensityConvention.create("window", a_min=0, a_max=1)
    over = Preprocessing.from_checkpoint(_ckpt(data), 0.7, window)
    assert over.intensity == window and over.intensity_scope == "window" and over.spacing_mm == (0.5, 0.5)
    with pytest.raises(PreprocessingError, match=r"roi_size \(32, 32\) is not a multiple of the network's 64"):
        Preprocessing.from_checkpoint(_ckpt(data, size_multiple=64), 0.7)
    # a recorded description that cannot be used is an error, not a reason to fall back to the flat entries
    bad = {"preprocessing": {**pre.to_dict(), "intensity_scope": "scan"}, "roi_size": [32, 32]}
    with pytest.raises(PreprocessingError, match="intensity_scope"):
        Preprocessing.from_checkpoint(_ckpt(bad), 0.7)


def test_intensity_parse_reads_a_kind_or_json():
    assert IntensityConvention.parse(" zscore ") == IntensityConvention("zscore")
    window = IntensityConvention.parse('{"kind": "window", "a_min": -1000, "a_max": 400}')
    assert window == IntensityConvention.create("window", a_min=-1000, a_max=400)
    with pytest.raises(ValueError, match="unknown intensity convention kind 'bogus'"):
        IntensityConvention.parse("bogus")
    with pytest.raises(ValueError, match="Expecting property name"):
        IntensityConvention.parse("{kind: window}")
