"""IntensityConvention round trips and build_dataset's config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssb_core.data import CROPS_UNIT, JPG_UNIT, LIDC64, LUNG_WINDOW, DatasetError, IntensityConvention, build_dataset, normalise


@pytest.mark.parametrize("conv", [LIDC64, LUNG_WINDOW, JPG_UNIT, CROPS_UNIT, IntensityConvention("zscore")])
def test_round_trip_through_json(conv):
    back = IntensityConvention.from_dict(json.loads(json.dumps(conv.to_dict())))
    assert back == conv
    x = np.linspace(-1200, 600, 50, dtype=np.float64).reshape(5, 10)
    np.testing.assert_array_equal(back.apply(x), conv.apply(x))
    assert conv.apply(x).dtype == np.float32 and conv.apply(x).shape == x.shape
    np.testing.assert_array_equal(normalise(x, conv.to_dict()), conv.apply(x))  # as a checkpoint stores it


def test_kinds():
    x = np.array([[-2000.0, -1000.0], [400.0, 1000.0]])
    np.testing.assert_allclose(LUNG_WINDOW.apply(x), [[-1.5, -1.5], [4.5, 4.5]])
    z = IntensityConvention("zscore").apply(np.arange(10.0))
    assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-5
    np.testing.assert_allclose(IntensityConvention.create("unit", scale=255.0).apply(np.array([0, 255])), [0, 1])
    np.testing.assert_array_equal(IntensityConvention("none").apply(np.array([1.5, -2.0])), [1.5, -2.0])
    assert LIDC64.kind == "zscore"  # each crop z-scored on its own: the lidc64 source's convention


def test_from_dict_variants_and_errors():
    assert IntensityConvention.from_dict("none") == IntensityConvention("none")
    assert IntensityConvention.from_dict("zscore") == LIDC64
    assert IntensityConvention.from_dict({"method": "window", "a_min": -1000, "a_max": 400}).kind == "window"
    assert IntensityConvention.from_dict({"kind": "ct_window", "a_min": -1000, "a_max": 400}).kind == "window"
    assert IntensityConvention.from_dict({"kind": "unit", "params": {"scale": 1.0}}).params["scale"] == 1.0
    with pytest.raises(ValueError, match="unknown intensity"):
        IntensityConvention.from_dict({"kind": "gamma"})
    with pytest.raises(ValueError, match="a_min"):
        IntensityConvention.from_dict({"kind": "window"})
    with pytest.raises(ValueError, match="a_max > a_min"):
        IntensityConvention.create("window", a_min=1, a_max=0)


def test_build_dataset_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format 'hdf5'"):
        build_dataset({"format": "hdf5", "path": "x"})
    with pytest.raises(ValueError, match="no 'format'"):
        build_dataset({"path": "x"})
    with pytest.raises(ValueError, match=r"unknown keys \['splitt'\]"):
        build_dataset({"format": "lidc64", "path": "x", "splitt": "train"})
    with pytest.raises(ValueError, match="needs 'path'"):
        build_dataset({"format": "lidc64"})
    with pytest.raises(ValueError, match="readers"):
        build_dataset({"format": "volumes", "path": str(tmp_path)})
    missing = tmp_path / "nope.npz"
    with pytest.raises(DatasetError, match="nope.npz"):
        build_dataset({"format": "lidc64", "path": str(missing)})
