"""Training samples from a scan and its readers' masks (``ssb_core.volume.scan_training_samples``)."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.data import IntensityConvention
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume import plan_roi, scan_training_samples, union_box
from tests.app._server import blob

SHAPE = (12, 64, 64)  # (Z, Y, X), 1 mm voxels


def _pre() -> Preprocessing:
    return Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")


def test_samples_cover_the_slices_the_readers_drew_in_the_window_a_click_there_would_get():
    volume = (100.0 * blob(SHAPE, (6, 20, 40), 4.0)).astype(np.float32)
    small, large = blob(SHAPE, (6, 20, 40), 3.0), blob(SHAPE, (6, 20, 40), 4.5)
    samples = scan_training_samples("scan1", volume, (1.0, 1.0, 1.0), {"bob": large, "amy": small}, ["amy", "bob", "cy"], _pre())
    box = union_box(large | small)
    assert box == [[36, 44], [16, 24], [2, 10]]
    assert [s["case_id"] for s in samples] == [f"scan1:k{k}" for k in range(2, 11)] and {s["patient_id"] for s in samples} == {"scan1"}
    plan = plan_roi(SHAPE, (1.0, 1.0, 1.0), _pre(), roi=box).box  # the box an annotator's ROI around the lesion gives
    mid = samples[4]  # slice 6, the lesion's centre
    assert mid["image"].shape == (1, 32, 32) and mid["image"].dtype == np.float32 and mid["masks"].shape == (3, 32, 32)
    assert mid["reader_present"].tolist() == [True, True, False] and not mid["masks"][2].any()
    assert 0 < mid["masks"][0].sum() < mid["masks"][1].sum()  # slot order is the readers' order, not the dict's
    cy, cx = np.argwhere(mid["masks"][1]).mean(axis=0)
    assert abs(plan.x0 + cx - 40) <= 1.5 and abs(plan.y0 + cy - 20) <= 1.5  # the mask lands on the lesion


def test_limits_and_errors():
    volume = np.zeros(SHAPE, np.float32)
    tall = np.zeros(SHAPE, bool)
    tall[:, 30:34, 30:34] = True
    assert len(scan_training_samples("s", volume, (1.0, 1.0, 1.0), {"amy": tall}, ["amy"], _pre(), max_slices=5)) == 5
    empty = scan_training_samples("s", volume, (1.0, 1.0, 1.0), {"amy": np.zeros(SHAPE, bool)}, ["amy"], _pre())
    assert empty and not any(s["masks"].any() for s in empty)  # an empty label is a sample too (nothing to draw)
    with pytest.raises(ValueError, match="has no slot"):
        scan_training_samples("s", volume, (1.0, 1.0, 1.0), {"zed": tall}, ["amy"], _pre())
    with pytest.raises(ValueError, match="has shape"):
        scan_training_samples("s", volume, (1.0, 1.0, 1.0), {"amy": tall[:5]}, ["amy"], _pre())
