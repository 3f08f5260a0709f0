"""Pairwise Dice / IoU: MONAI's values and empty-mask convention, exact counts, flat and 3-D inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import compute_dice, compute_iou

from ssb_core.metrics import pairwise_dice, pairwise_iou, pairwise_overlaps
from ssb_core.metrics import overlap as overlap_module
from tests.metrics.helpers import masks


def _monai_all_pairs(fn, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ka, kb = a.shape[0], b.shape[0]
    ai = torch.from_numpy(a).float().unsqueeze(1).repeat_interleave(kb, 0)
    bj = torch.from_numpy(b).float().unsqueeze(1).repeat(ka, *([1] * (a.ndim)))
    return fn(ai, bj, include_background=True, ignore_empty=False).reshape(ka, kb).numpy()


def test_matches_monai_including_empty_masks():
    a = masks("00/00", "10/00", "11/01", "11/11")
    b = masks("00/00", "01/00", "11/11")
    np.testing.assert_allclose(pairwise_dice(a, b), _monai_all_pairs(compute_dice, a, b), atol=1e-6)
    np.testing.assert_allclose(pairwise_iou(a, b), _monai_all_pairs(compute_iou, a, b), atol=1e-6)
    assert pairwise_dice(a, b)[0, 0] == 1.0 and pairwise_iou(a, b)[0, 0] == 1.0  # empty vs empty
    assert pairwise_dice(a, b)[0, 1] == 0.0 and pairwise_iou(a, b)[1, 0] == 0.0  # empty vs non-empty


def test_hand_values_and_difference_variance():
    o = pairwise_overlaps(masks("1100"), masks("0110", "0000"))
    assert o.inter.tolist() == [[1, 0]] and o.size_a.tolist() == [2] and o.size_b.tolist() == [2, 0] and o.num_pixels == 4
    np.testing.assert_allclose(o.dice(), [[0.5, 0.0]])
    np.testing.assert_allclose(o.iou(), [[1 / 3, 0.0]])
    # 1100 - 0110 = (1, 0, -1, 0): E[x²] = 1/2, E[x] = 0 → 1/2; 1100 - 0000: 1/2 - 1/4 = 1/4.
    np.testing.assert_allclose(o.difference_variance(), [[0.5, 0.25]])


def test_chunked_counts_are_exact(monkeypatch):
    rng = np.random.default_rng(1)
    a = rng.random((3, 7, 5, 3)) > 0.5
    b = rng.random((2, 7, 5, 3)) > 0.3
    want = np.einsum("ip,jp->ij", a.reshape(3, -1).astype(int), b.reshape(2, -1).astype(int))
    monkeypatch.setattr(overlap_module, "_CHUNK", 16)  # 105 voxels in 7 chunks
    np.testing.assert_array_equal(pairwise_overlaps(a, b).inter, want)


def test_spatial_shape_mismatch():
    with pytest.raises(ValueError, match=r"expected \(M, 4\), got \(1, 5\)"):
        pairwise_dice(np.zeros((1, 4), bool), np.zeros((1, 5), bool))
