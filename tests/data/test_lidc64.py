"""lidc64 reader on the real test split; malformed / corrupt / missing files."""

from __future__ import annotations

import numpy as np
import pytest

from torch.utils.data import DataLoader

from ssb_core.data import DatasetError, Lidc64Dataset, build_dataset, check_sample, collate_samples, split_dataset
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def test_split():
    return build_dataset({"format": "lidc64", "path": str(shared_data("lidc64")), "split": "test"})


def test_real_samples(test_split):
    ds = test_split
    assert len(ds) == 155 and len(set(ds.patient_ids)) == 8 and ds.intensity.kind == "zscore"
    s = ds[0]
    assert s["image"].shape == (1, 64, 64) and s["image"].dtype == np.float32
    assert s["masks"].shape == (4, 64, 64) and s["masks"].dtype == np.uint8 and set(np.unique(s["masks"])) <= {0, 1}
    assert s["reader_present"].shape == (4,) and s["reader_present"].dtype == bool
    assert s["case_id"] == f"{s['patient_id']}_n{s['meta']['nodule']}_s{s['meta']['slice_index']}"
    assert s["patient_id"] == ds.patient_ids[0] and s["meta"]["source"].endswith("test.npz")
    assert len({ds[i]["case_id"] for i in range(len(ds))}) == len(ds)
    for i in range(len(ds)):
        check_sample(ds[i], num_readers=4)
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_samples)))
    assert tuple(batch["image"].shape) == (4, 1, 64, 64) and batch["masks"].dtype.is_floating_point is False
    assert tuple(batch["reader_present"].shape) == (4, 4) and len(batch["meta"]) == 4


def test_absent_readers_flagged_and_zero(test_split):
    counts = test_split.reader_present.sum(1)
    assert counts.min() >= 2 and (counts < 4).any()
    i = int(np.flatnonzero(counts < 4)[0])
    s = test_split[i]
    assert not s["reader_present"].all()
    assert not s["masks"][~s["reader_present"]].any()


def test_patient_grouped_split_of_real_split(test_split):
    parts = split_dataset(test_split, {"a": 0.75, "b": 0.25}, seed=0)
    pa, pb = set(parts["a"].patient_ids), set(parts["b"].patient_ids)
    assert pa and pb and not (pa & pb) and len(parts["a"]) + len(parts["b"]) == len(test_split)
    s = parts["b"][0]
    assert s["patient_id"] in pb and parts["b"].intensity is test_split.intensity


def _write(path, n=3, **override):
    arrays = {"images": np.zeros((n, 64, 64), np.float32), "masks": np.zeros((n, 4, 64, 64), np.uint8),
              "reader_present": np.ones((n, 4), bool), "patient_id": np.array(["p"] * n), "nodule": np.zeros(n, int),
              "slice_index": np.arange(n)}
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_missing_file_and_dir_without_split(tmp_path):
    with pytest.raises(DatasetError, match="val.npz.*not found"):
        Lidc64Dataset(tmp_path, "val")
    with pytest.raises(DatasetError, match=str(tmp_path)):
        Lidc64Dataset(tmp_path)


def test_corrupt_npz_names_file(tmp_path):
    good = _write(tmp_path / "good.npz")
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DatasetError, match="truncated.npz.*corrupt"):
        Lidc64Dataset(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match="junk.npz"):
        Lidc64Dataset(junk)


def test_malformed_contents_name_file(tmp_path):
    with pytest.raises(DatasetError, match=r"nokeys.npz.*lacks keys \['reader_present'\]"):
        Lidc64Dataset(_write(tmp_path / "nokeys.npz", reader_present=None))
    with pytest.raises(DatasetError, match="shape.npz.*'masks'"):
        Lidc64Dataset(_write(tmp_path / "shape.npz", masks=np.zeros((3, 4, 32, 32), np.uint8)))
    with pytest.raises(DatasetError, match="present.npz.*'reader_present'"):
        Lidc64Dataset(_write(tmp_path / "present.npz", reader_present=np.ones((3, 3), bool)))
    with pytest.raises(DatasetError, match="binary"):
        Lidc64Dataset(_write(tmp_path / "values.npz", masks=np.full((3, 4, 64, 64), 255, np.uint8)))


def test_stray_mask_of_absent_reader_is_zeroed(tmp_path):
    present = np.ones((3, 4), bool)
    present[0, 3] = False
    ds = Lidc64Dataset(_write(tmp_path / "s.npz", masks=np.ones((3, 4, 64, 64), np.uint8), reader_present=present))
    assert ds[0]["masks"][3].sum() == 0 and ds[0]["masks"][2].all() and not ds[0]["reader_present"][3]
