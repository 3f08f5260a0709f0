"""The Kohl et al. crops pickle (written here) and the lidc128-jpg folders (real cases)."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from ssb_core.data import DatasetError, build_dataset, check_sample, convert_crops_to_npz
from ssb_core.data.lidc_crops import LidcCropsDataset
from tests.conftest import shared_data


def _crops_pickle(path, n=6):
    rng = np.random.default_rng(0)
    data = {}
    for i in range(n):
        masks = [(rng.random((128, 128)) > 0.9).astype(np.uint8) for _ in range(4)]
        masks[3][:] = 0  # an empty reader
        data[f"crop_{i:02d}"] = {"image": rng.random((128, 128)).astype(np.float32), "masks": masks, "series_uid": f"1.2.3.{i // 2}"}
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return data


def test_crops_pickle_and_npz_conversion(tmp_path):
    data = _crops_pickle(tmp_path / "crops.pkl")
    ds = build_dataset({"format": "lidc_crops", "path": str(tmp_path / "crops.pkl")})
    assert len(ds) == 6 and sorted(set(ds.patient_ids)) == ["1.2.3.0", "1.2.3.1", "1.2.3.2"]
    s = ds[1]
    assert s["case_id"] == "crop_01" and s["patient_id"] == "1.2.3.0"
    assert s["image"].shape == (1, 128, 128) and s["masks"].shape == (4, 128, 128) and s["masks"].dtype == np.uint8
    np.testing.assert_array_equal(s["masks"][0], data["crop_01"]["masks"][0])
    np.testing.assert_allclose(s["image"][0], ds.intensity.apply(data["crop_01"]["image"]), rtol=1e-6)
    assert s["reader_present"].all() and s["meta"]["absent_unknown"]
    check_sample(s, num_readers=4)
    npz = convert_crops_to_npz(tmp_path / "crops.pkl", tmp_path / "crops.npz")
    fast = LidcCropsDataset(npz, patients=["1.2.3.2"])
    assert len(fast) == 2 and fast[0]["case_id"] == "crop_04"
    np.testing.assert_array_equal(fast[0]["masks"], ds[4]["masks"])
    np.testing.assert_array_equal(fast[0]["image"], ds[4]["image"])


def test_crops_errors_name_file(tmp_path):
    with pytest.raises(DatasetError, match="absent.pkl.*not found"):
        LidcCropsDataset(tmp_path / "absent.pkl")
    _crops_pickle(tmp_path / "c.pkl")
    (tmp_path / "cut.pkl").write_bytes((tmp_path / "c.pkl").read_bytes()[:1000])
    with pytest.raises(DatasetError, match="cut.pkl.*corrupt"):
        LidcCropsDataset(tmp_path / "cut.pkl")
    with open(tmp_path / "bad.pkl", "wb") as f:
        pickle.dump({"a": {"image": np.zeros((128, 128))}}, f)
    with pytest.raises(DatasetError, match="bad.pkl.*crop 'a'"):
        LidcCropsDataset(tmp_path / "bad.pkl")
    crop = {"image": np.zeros((128, 128)), "masks": [np.zeros((128, 128))] * 4, "series_uid": "s"}
    with open(tmp_path / "shapes.pkl", "wb") as f:
        pickle.dump({"a": crop, "b": {**crop, "masks": [np.zeros((64, 64))] * 4}}, f)
    with pytest.raises(DatasetError, match=r"shapes.pkl: crop 'b': image \(128, 128\), masks \(4, 64, 64\)"):
        LidcCropsDataset(tmp_path / "shapes.pkl")
    with open(tmp_path / "list.pkl", "wb") as f:
        pickle.dump([crop], f)
    with pytest.raises(DatasetError, match="list.pkl: holds a list"):
        LidcCropsDataset(tmp_path / "list.pkl")


def test_jpg_folders_real_cases():
    root = shared_data("lidc128-jpg")
    ds = build_dataset({"format": "folders", "path": str(root), "split": "testing"})
    assert len(ds) == 9 and ds.intensity.kind == "unit"
    s = ds[0]
    assert s["image"].shape == (1, 128, 128) and s["image"].dtype == np.float32
    assert s["masks"].shape == (4, 128, 128) and set(np.unique(s["masks"])) <= {0, 1}
    assert s["reader_present"].all() and s["meta"]["absent_unknown"] is True
    assert s["case_id"] == s["patient_id"] == "12"
    check_sample(s, num_readers=4)
    all_cases = build_dataset({"format": "folders", "path": str(root)})
    assert len(all_cases) == 28
    nonempty = [all_cases[i]["meta"]["nonempty_readers"] for i in range(len(all_cases))]
    assert sorted(set(nonempty)) == [1, 3, 4] and nonempty.count(4) == 21


def test_jpg_folders_missing_and_corrupt(tmp_path):
    root = shared_data("lidc128-jpg")
    case = tmp_path / "testing" / "12"
    shutil.copytree(root / "testing" / "12", case)
    (case / "label2_.jpg").unlink()
    with pytest.raises(DatasetError, match="label2_.jpg.*not found"):
        build_dataset({"format": "folders", "path": str(tmp_path), "split": "testing"})
    shutil.copy(root / "testing" / "12" / "label2_.jpg", case / "label2_.jpg")
    (case / "label1_.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DatasetError, match="label1_.jpg.*corrupt"):
        build_dataset({"format": "folders", "path": str(tmp_path), "split": "testing"})
    with pytest.raises(DatasetError, match="training.*not found"):
        build_dataset({"format": "folders", "path": str(tmp_path), "split": "training"})
