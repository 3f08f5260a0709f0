"""check_sample and collate_samples: the sample convention's own guards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.data import check_sample, collate_samples, make_sample


def _sample(**override):
    s = make_sample(np.zeros((8, 8), np.float32), np.zeros((4, 8, 8), np.uint8), np.array([1, 1, 0, 0], bool),
                    "case", "patient", {"source": "x.npz", "spacing": None})
    s.update(override)
    return s


def test_make_sample_zeroes_absent_readers_and_adds_channel():
    s = make_sample(np.ones((8, 8)), np.ones((4, 8, 8)), np.array([1, 0, 1, 0], bool), "c", "p", {"source": "f"})
    assert s["image"].shape == (1, 8, 8) and s["image"].dtype == np.float32
    assert s["masks"][[1, 3]].sum() == 0 and s["masks"][[0, 2]].all()
    check_sample(s, num_readers=4)


@pytest.mark.parametrize("override, match", [
    ({"image": np.zeros((8, 8), np.float32)}, r"'image' must be float32 \(1, H, W"),
    ({"image": np.zeros((1, 8, 8), np.float64)}, "float64"),
    ({"masks": np.zeros((4, 8, 7), np.uint8)}, r"'masks' must be uint8 \(R, 8, 8\)"),
    ({"masks": np.full((4, 8, 8), 2, np.uint8)}, "values up to 2"),
    ({"reader_present": np.ones(3, bool)}, r"'reader_present' must be bool \(4,\)"),
    ({"masks": np.ones((4, 8, 8), np.uint8)}, r"slots \[2, 3\] are flagged absent"),
    ({"case_id": ""}, "'case_id' must be a non-empty str"),
    ({"meta": {}}, "'source'"),
])
def test_check_sample_rejects(override, match):
    with pytest.raises(ValueError, match=match):
        check_sample(_sample(**override))


def test_check_sample_reader_count_and_missing_keys():
    with pytest.raises(ValueError, match="4 reader slots, expected 3"):
        check_sample(_sample(), num_readers=3)
    s = _sample()
    del s["patient_id"]
    with pytest.raises(ValueError, match=r"lacks keys \['patient_id'\]"):
        check_sample(s)


def test_collate():
    b = collate_samples([_sample(), _sample(case_id="other")])
    assert b["image"].shape == (2, 1, 8, 8) and b["image"].dtype == torch.float32
    assert b["masks"].dtype == torch.uint8 and b["reader_present"].dtype == torch.bool
    assert b["case_id"] == ["case", "other"] and b["meta"][0]["spacing"] is None
    with pytest.raises(ValueError, match="cannot batch 'image'.*'odd'"):
        collate_samples([_sample(), _sample(case_id="odd", image=np.zeros((1, 4, 4), np.float32),
                                            masks=np.zeros((4, 4, 4), np.uint8))])
    with pytest.raises(ValueError, match="at least one"):
        collate_samples([])
