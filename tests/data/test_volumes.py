"""Volumes in the MONAI Label layout: real brain MR, reader A = the label, reader B = a dilated copy."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.data import DatasetError, VolumeDataset, build_dataset, check_sample
from tests.conftest import shared_data

sitk = pytest.importorskip("SimpleITK")


@pytest.fixture(scope="module")
def volume_root(tmp_path_factory):
    image = sitk.ReadImage(str(shared_data("mr3d", "brain1_image.nrrd")))
    label = sitk.ReadImage(str(shared_data("mr3d", "brain1_label.nrrd")))
    label = sitk.Cast(label > 0, sitk.sitkUInt8)
    dilated = sitk.BinaryDilate(label, [2, 2, 1])
    root = tmp_path_factory.mktemp("volumes")
    (root / "labels" / "A").mkdir(parents=True)
    (root / "labels" / "B").mkdir()
    sitk.WriteImage(image, str(root / "brain1.nii.gz"))
    sitk.WriteImage(label, str(root / "labels" / "A" / "brain1.nii.gz"))
    sitk.WriteImage(dilated, str(root / "labels" / "B" / "brain1.nrrd"))
    return root, image, label, dilated


def test_volume_sample_keeps_geometry(volume_root):
    root, image, label, dilated = volume_root
    ds = VolumeDataset(root, ["A", "B", "C"])
    assert len(ds) == 1 and ds.patient_ids == ["brain1"]
    s = ds[0]
    assert s["image"].shape == (1, 256, 256, 25) and s["image"].dtype == np.float32
    assert s["masks"].shape == (3, 256, 256, 25) and s["masks"].dtype == np.uint8
    np.testing.assert_array_equal(s["reader_present"], [True, True, False])
    check_sample(s, num_readers=3)
    assert not s["masks"][2].any()
    assert int(s["masks"][0].sum()) == 4137 and s["masks"][1].sum() > s["masks"][0].sum()
    np.testing.assert_array_equal(s["masks"][0], np.transpose(sitk.GetArrayFromImage(label), (1, 2, 0)))
    m = s["meta"]
    np.testing.assert_allclose(m["sitk_spacing"], image.GetSpacing())
    np.testing.assert_allclose(m["origin"], image.GetOrigin())
    np.testing.assert_allclose(m["direction"], image.GetDirection())
    np.testing.assert_allclose(m["spacing"], (0.78125, 0.78125, 6.5), atol=1e-5)
    assert abs(float(s["image"].mean())) < 1e-3  # per-volume z-score


def test_lesion_slices(volume_root):
    root, _, _, dilated = volume_root
    ds = build_dataset({"format": "volumes", "path": str(root), "readers": ["A", "B"]})
    z_with = np.flatnonzero(sitk.GetArrayFromImage(dilated).reshape(25, -1).any(1))
    assert len(ds) == len(z_with) and ds.patient_ids == ["brain1"] * len(ds)
    s = ds[0]
    assert s["image"].shape == (1, 256, 256) and s["masks"].shape == (2, 256, 256)
    assert s["case_id"] == f"brain1_z{z_with[0]}" and s["meta"]["slice_index"] == int(z_with[0])
    np.testing.assert_allclose(s["meta"]["spacing"], (0.78125, 0.78125), atol=1e-5)
    assert s["reader_present"].all() and any(ds[i]["masks"].any() for i in range(len(ds)))
    check_sample(s, num_readers=2)
    full = build_dataset({"format": "volumes", "path": str(root), "readers": ["A", "B"], "slices": "all"})
    assert len(full) == 25


def test_unknown_reader_tags(volume_root):
    root, *_ = volume_root
    with pytest.raises(DatasetError, match=r"unknown readers \['B'\]"):
        VolumeDataset(root, ["A"])
    ds = VolumeDataset(root, ["A"], strict=False)
    assert ds[0]["masks"].shape[0] == 1 and ds[0]["reader_present"].all()


def test_label_geometry_mismatch_rejected(tmp_path, volume_root):
    _, image, label, _ = volume_root
    (tmp_path / "labels" / "A").mkdir(parents=True)
    sitk.WriteImage(image, str(tmp_path / "brain1.nrrd"))
    moved = sitk.Image(label)
    moved.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(moved, str(tmp_path / "labels" / "A" / "brain1.nrrd"))
    with pytest.raises(DatasetError, match=r"labels/A/brain1.nrrd.*geometry.*origin"):
        VolumeDataset(tmp_path, ["A"])
    spaced = sitk.Image(label)
    spaced.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(spaced, str(tmp_path / "labels" / "A" / "brain1.nrrd"))
    with pytest.raises(DatasetError, match="spacing"):
        VolumeDataset(tmp_path, ["A"])


def test_missing_and_corrupt_volumes(tmp_path):
    with pytest.raises(DatasetError, match="nowhere.*not found"):
        VolumeDataset(tmp_path / "nowhere", ["A"])
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DatasetError, match="broken.nii.gz"):
        VolumeDataset(tmp_path, ["A"])


def test_label_without_image_rejected(tmp_path, volume_root):
    _, image, label, _ = volume_root
    (tmp_path / "labels" / "A").mkdir(parents=True)
    sitk.WriteImage(image, str(tmp_path / "brain1.nrrd"))
    sitk.WriteImage(label, str(tmp_path / "labels" / "A" / "brain2.nrrd"))
    with pytest.raises(DatasetError, match="brain2.nrrd.*no image 'brain2'"):
        VolumeDataset(tmp_path, ["A"])
