"""Which parts of a candidate belong to the clicked lesion, and following it through the slices.

The growth test runs the real pipeline on a tiny, untrained network (MONAI zero-initialises its output layer,
so each candidate is the normalised window plus bridge noise, thresholded: bright structures come out as
lesions), on a synthetic volume with a lesion at the click, a second one beside it and a third far above.
Its intensity convention is a fixed window (background -1, lesion +1), so that empty slices stay empty: with
a per-window z-score this untrained network would draw noise on them.
"""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.data import IntensityConvention
from ssb_core.pipeline import SSBPipeline
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume import GrowthSettings, RoiPlan, fill_slice_holes, keep_connected, plan_roi, seed_region, segment_lesion, to_full
from tests.app._server import blob, write_tiny_checkpoint


def _window() -> Preprocessing:
    return Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")


def test_keep_connected_keeps_only_components_at_the_seed():
    masks = np.zeros((3, 4, 10, 10), dtype=bool)
    masks[0, 1:3, 2:5, 2:5] = True  # at the seed, over two slices
    masks[0, 0, 8, 8] = True  # elsewhere
    masks[1, 2, 7:9, 7:9] = True  # only elsewhere: nothing of this candidate is the lesion
    masks[2, 1, 3, 3] = masks[2, 2, 4, 4] = True  # diagonal across slices: not connected (face neighbours only)
    region = np.zeros((4, 10, 10), dtype=bool)
    region[1, 3, 3] = True
    kept = keep_connected(masks, region)
    np.testing.assert_array_equal(kept[0], masks[0] & ~(np.arange(10)[None, :, None] == 8))
    assert not kept[1].any()
    assert kept[2].sum() == 1 and kept[2, 1, 3, 3]


def test_holes_are_filled_slice_by_slice_and_open_notches_kept():
    masks = np.zeros((2, 3, 12, 12), dtype=bool)
    masks[0, 1, 2:9, 2:9] = True
    masks[0, 1, 4:6, 4:6] = False  # a hole inside: filled
    masks[1, 0, 2:9, 2:9] = True
    masks[1, 0, 5:7, 2:5] = False  # a notch open to the outside of the lesion: a reader's outline could have it
    ring3d = np.zeros((3, 12, 12), dtype=bool)
    filled = fill_slice_holes(masks)
    assert filled[0, 1, 4:6, 4:6].all() and filled[0, 1].sum() == 49
    np.testing.assert_array_equal(filled[1], masks[1])
    assert not fill_slice_holes(ring3d).any() and filled.shape == masks.shape


def test_seed_region_is_physical():
    plan = RoiPlan((4, 5, 6), 0, 0, 20, 20, (10.0, 10.0, 5.0), "foreground")
    region = seed_region(plan, np.array([[10.0, 10.0, 5.0]]), (0.5, 0.5, 2.5), radius_mm=3.0)
    assert region[1].sum() == pytest.approx(np.pi * 6**2, rel=0.15)  # 3 mm = 6 voxels of 0.5 mm
    assert region[0].sum() == region[2].sum() > 0 and region[0].sum() < region[1].sum()  # 2.5 mm above / below


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.pt")
    return SSBPipeline.from_checkpoint(path)


def test_growth_follows_the_clicked_lesion_and_stops_where_it_ends(tiny_pipeline):
    z = 40
    vol = np.zeros((z, 64, 64), dtype=np.float32)
    vol += 100.0 * blob((z, 64, 64), (12, 32, 32), 6.0, (2.0, 1.0, 1.0))  # the lesion at the click: slices 9-15
    vol += 100.0 * blob((z, 64, 64), (12, 32, 48), 4.0, (2.0, 1.0, 1.0))  # a second one in the same window
    vol += 100.0 * blob((z, 64, 64), (32, 32, 32), 6.0, (2.0, 1.0, 1.0))  # far above, same (i, j)
    vol += np.random.default_rng(0).normal(0, 2, vol.shape)
    pre = _window()
    click = plan_roi(vol.shape, (1.0, 1.0, 2.0), pre, foreground=[[32, 32, 12]])
    config = tiny_pipeline.defaults.replace(num_candidates=3, nfe=2)
    result = segment_lesion(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config, None, 0, GrowthSettings(slice_batch=4))
    assert result.stopped == {"below": "lesion ended", "above": "lesion ended"}
    assert result.num_slices < 20 and min(result.plan.slices) <= 9 and max(result.plan.slices) >= 15
    full = to_full(result.masks, result.plan, vol.shape, fill=False)
    lesion = blob((z, 64, 64), (12, 32, 32), 6.0, (2.0, 1.0, 1.0))
    for cand in full:
        assert cand.any() and (cand & lesion).sum() / cand.sum() > 0.8  # the clicked lesion, not its neighbours
        assert not cand[25:].any()
    assert (result.dropped_voxels > 0).all()  # the neighbour was drawn, and removed


def test_batching_does_not_change_the_candidates(tiny_pipeline):
    vol = 100.0 * blob((20, 48, 48), (10, 24, 24), 5.0, (2.0, 1.0, 1.0)) + np.random.default_rng(1).normal(0, 20, (20, 48, 48))
    pre = _window()
    click = plan_roi(vol.shape, (1.0, 1.0, 2.0), pre, foreground=[[24, 24, 10]])
    config = tiny_pipeline.defaults.replace(num_candidates=3, nfe=2)
    a = segment_lesion(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config, None, 5, GrowthSettings(slice_batch=1))
    b = segment_lesion(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config, None, 5, GrowthSettings(slice_batch=16))
    assert a.plan == b.plan
    np.testing.assert_array_equal(a.masks, b.masks)
    # the same as sampling every candidate on every slice, then keeping what is connected to the click:
    # skipping a candidate past its own end changes nothing
    from ssb_core.volume.inference import _sample_slices

    plan = a.plan
    every = _sample_slices(tiny_pipeline, pre, vol, plan, plan.slices, config, None, 5, 16, range(3))
    raw = np.stack([every[k] for k in plan.slices], axis=1)
    brute = keep_connected(raw, seed_region(plan, click.seeds_ijk, (1.0, 1.0, 2.0), GrowthSettings().seed_radius_mm))
    np.testing.assert_array_equal(a.masks, fill_slice_holes(brute))  # then holes filled, slice by slice


def test_roi_box_limits_the_slices_and_no_click_uses_the_centre(tiny_pipeline):
    vol = 100.0 * blob((30, 48, 48), (15, 24, 24), 12.0, (2.0, 1.0, 1.0))
    pre = _window()
    config = tiny_pipeline.defaults.replace(num_candidates=2, nfe=2)
    box = plan_roi(vol.shape, (1.0, 1.0, 2.0), pre, roi=[[10, 38], [10, 38], [13, 17]])
    res = segment_lesion(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), box, config)
    assert res.plan.slices == tuple(range(13, 18)) and res.masks.any()
    centre = plan_roi(vol.shape, (1.0, 1.0, 2.0), pre)
    assert centre.box.source == "image centre" and centre.box.slices == (14,)
    res = segment_lesion(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), centre, config)
    assert res.masks.any() and res.stopped == {"below": "lesion ended", "above": "lesion ended"}


def test_a_lesion_larger_than_the_window_gets_a_coarser_window(tiny_pipeline):
    from ssb_core.volume.inference import choose_scale

    vol = 100.0 * blob((20, 96, 96), (10, 48, 48), 22.0, (2.0, 1.0, 1.0))  # 44 mm across; the window is 32 mm
    pre = _window()
    click = plan_roi(vol.shape, (1.0, 1.0, 2.0), pre, foreground=[[48, 48, 10]])
    config = tiny_pipeline.defaults.replace(num_candidates=4, nfe=2)
    scale, seen, _ = choose_scale(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config, None, 0, GrowthSettings())
    assert [s["scale"] for s in seen] == [1.0, 1.5, 2.0]
    assert seen[0]["touch_border"] == 4 and scale == 1.5  # 48 mm holds it
    result = segment_lesion(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config)
    assert result.scale == 1.5 and result.plan.nx == 48
    assert abs(result.masks[:, result.plan.slices.index(10)].sum(axis=(1, 2)).mean() - np.pi * 22**2) < 0.1 * np.pi * 22**2
    # nothing at the click at any scale: the finest, and nothing drawn
    empty = np.zeros((20, 96, 96))
    scale, seen, _ = choose_scale(tiny_pipeline, pre, empty, (1.0, 1.0, 2.0), click, config, None, 0, GrowthSettings())
    assert scale == 1.0 and all(s["drawn_by"] == 0 for s in seen)
