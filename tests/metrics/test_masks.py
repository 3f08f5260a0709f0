"""Input checks and the absent-reader conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.metrics import as_mask_set, as_reader_present, select_readers
from ssb_core.metrics.masks import check_absent_readers, check_threshold
from tests.metrics.helpers import masks


def test_as_mask_set_binarises_and_keeps_bool():
    b = masks("1100").astype(bool)
    assert as_mask_set(b) is b  # no copy for bool input
    np.testing.assert_array_equal(as_mask_set(masks("1100")), b)
    np.testing.assert_array_equal(as_mask_set(np.array([[[0.2, 0.7, 0.5, 0.9]]]), threshold=0.5), [[[False, True, False, True]]])
    np.testing.assert_array_equal(as_mask_set(torch.tensor([[[1, 1, 0, 0]]], dtype=torch.uint8)), b)
    assert as_mask_set(np.zeros((2, 3)), spatial_ndims=None).shape == (2, 3)  # flat (K, P) when asked


@pytest.mark.parametrize("value", [None, 0.0, 0.5, 0.999, np.float32(0.3)])
def test_valid_thresholds(value):
    assert check_threshold(value) == (None if value is None else float(value))


@pytest.mark.parametrize(
    "value, err",
    [(1.0, ValueError), (-0.1, ValueError), (float("inf"), ValueError), (True, TypeError), ("0.5", TypeError)],
)
def test_invalid_thresholds(value, err):
    with pytest.raises(err, match="threshold"):
        check_threshold(value)


def test_reader_present_forms():
    np.testing.assert_array_equal(as_reader_present(None, 3), [True, True, True])
    np.testing.assert_array_equal(as_reader_present([1, 0, 1], 3), [True, False, True])
    np.testing.assert_array_equal(as_reader_present(torch.tensor([True, False]), 2), [True, False])


def test_select_readers():
    y = masks("1100", "0110", "0011").astype(bool)
    present = np.array([True, False, True])
    np.testing.assert_array_equal(select_readers(y, present, "exclude"), y[[0, 2]])
    empty = select_readers(y, present, "empty")
    assert empty.shape == y.shape and not empty[1].any() and y[1].any()  # the input is not modified
    assert select_readers(y, None, "exclude") is y
    with pytest.raises(ValueError, match="absent_readers must be one of"):
        check_absent_readers("drop")
