"""grouped_split / split_dataset: no group crosses splits, seeded, fractions honoured; the crops config split."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ssb_core.data import GroupSubset, build_dataset, check_sample, grouped_split, split_dataset
from tests.conftest import shared_data


def _groups(seed: int, n_groups: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, size=n_groups)  # uneven groups, like crops per series
    ids = np.repeat([f"pat{g:03d}" for g in range(n_groups)], sizes)[:n]
    return list(rng.permutation(ids))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fractions", [[0.7, 0.15, 0.15], [0.5, 0.5], [0.8, 0.0, 0.2], [1.0]])
def test_no_group_crosses_splits_and_all_indices_covered(seed, fractions):
    ids = _groups(seed, n_groups=40, n=200)
    parts = grouped_split(ids, fractions, seed=seed)
    assert len(parts) == len(fractions)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(len(ids)))
    seen: dict[str, int] = {}
    for k, idx in enumerate(parts):
        assert (np.diff(idx) > 0).all()
        for i in idx:
            assert seen.setdefault(ids[i], k) == k, f"group {ids[i]} in splits {seen[ids[i]]} and {k}"
        assert (len(idx) == 0) == (fractions[k] == 0)


def test_deterministic_and_seed_dependent():
    ids = _groups(0, n_groups=30, n=150)
    a = grouped_split(ids, [0.6, 0.2, 0.2], seed=7)
    b = grouped_split(list(ids), (0.6, 0.2, 0.2), seed=7)
    c = grouped_split(ids, [0.6, 0.2, 0.2], seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_fractions_are_approached():
    ids = _groups(1, n_groups=300, n=10_000)
    parts = grouped_split(ids, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    shares = {k: len(v) / len(ids) for k, v in parts.items()}
    assert list(parts) == ["train", "val", "test"]
    assert abs(shares["train"] - 0.7) < 0.02 and abs(shares["val"] - 0.15) < 0.02
    by_groups = grouped_split(ids, [0.5, 0.5], seed=0, balance="groups")
    n_groups = [len({ids[i] for i in p}) for p in by_groups]
    assert abs(n_groups[0] - n_groups[1]) <= 1


@pytest.mark.parametrize("ids, fractions, balance, match", [
    ([], [1.0], "samples", "at least one sample"),
    (["a", "b"], [0.5, 0.6], "samples", "sum to 1"),
    (["a", "b"], [1.5, -0.5], "samples", ">= 0"),
    (["a", "a"], [0.5, 0.5], "samples", "1 groups cannot fill 2 splits"),
    (["a", "b"], [0.5, 0.5], "patients", "balance"),
])
def test_bad_input(ids, fractions, balance, match):
    with pytest.raises(ValueError, match=match):
        grouped_split(ids, fractions, seed=0, balance=balance)


def test_real_lidc64_train_split_never_leaks_a_patient():
    ds = build_dataset({"format": "lidc64", "path": str(shared_data("lidc64")), "split": "train"})
    parts = split_dataset(ds, seed=3)
    assert set(parts) == {"train", "val", "test"} and all(isinstance(p, GroupSubset) for p in parts.values())
    patients = {k: set(p.patient_ids) for k, p in parts.items()}
    assert not (patients["train"] & patients["val"]) and not (patients["train"] & patients["test"])
    assert not (patients["val"] & patients["test"])
    assert sum(len(p) for p in parts.values()) == len(ds) == 570
    for k, p in parts.items():
        s = p[len(p) - 1]
        check_sample(s, num_readers=4)
        assert s["patient_id"] in patients[k] and p.case_ids[-1] == s["case_id"]


def test_crops_config_split(tmp_path):
    rng = np.random.default_rng(0)
    data = {f"c{i:03d}": {"image": rng.random((32, 32)).astype(np.float32),
                          "masks": [(rng.random((32, 32)) > 0.8).astype(np.uint8) for _ in range(4)],
                          "series_uid": f"1.3.6.{i % 9}"} for i in range(40)}
    path = tmp_path / "crops.pkl"
    with open(path, "wb") as f:
        pickle.dump(data, f)
    cfg = {"format": "lidc_crops", "path": str(path), "seed": 1}
    parts = {k: build_dataset({**cfg, "split": k}) for k in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == 40
    uids = {k: set(p.patient_ids) for k, p in parts.items()}
    assert all(uids.values()) and not (uids["train"] & uids["val"]) and not (uids["val"] & uids["test"])
    assert not (uids["train"] & uids["test"])
    again = build_dataset({**cfg, "split": "val"})
    assert again.case_ids == parts["val"].case_ids
    with pytest.raises(ValueError, match="'split' 'holdout' must be a key"):
        build_dataset({**cfg, "split": "holdout"})
    with pytest.raises(ValueError, match="need 'split'"):
        build_dataset(cfg)
    with pytest.raises(ValueError, match="sum to 1"):
        build_dataset({**cfg, "split": "a", "fractions": {"a": 0.5, "b": 0.4}})
