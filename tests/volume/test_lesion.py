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
from ssb_core.volume import GrowthSettings, RoiPlan, clicked_lesion, fill_slice_holes, plan_roi, segment_lesion, to_full
from ssb_core.volume.lesion import cut_at_necks, keep_nearest_components, seed_distances
from tests.app._server import blob, write_tiny_checkpoint


def _window() -> Preprocessing:
    return Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")


def test_only_the_component_nearest_to_each_click_is_kept():
    plan = RoiPlan((0, 1, 2, 3), 0, 0, 10, 10, (3.0, 3.0, 1.0), "foreground")
    masks = np.zeros((4, 4, 10, 10), dtype=bool)
    masks[0, 1:3, 2:5, 2:5] = True  # holds the click, over two slices
    masks[0, 1, 6:8, 3] = True  # a second structure passing 3 voxels from the click: not the clicked lesion
    masks[0, 0, 8, 8] = True  # elsewhere
    masks[1, 2, 7:9, 7:9] = True  # only elsewhere: nothing of this candidate is the lesion
    masks[2, 1, 3, 5] = masks[2, 1, 3, 7] = True  # two pieces near the click, none on it: the nearer one
    masks[3, 1, 3, 3] = masks[3, 2, 4, 4] = True  # diagonal across slices: not connected (face neighbours only)
    distances = seed_distances(plan, np.array([[3.0, 3.0, 1.0]]), (1.0, 1.0, 1.0))
    kept = keep_nearest_components(masks, distances, radius_mm=4.0)
    expected = np.zeros_like(masks[0])
    expected[1:3, 2:5, 2:5] = True
    np.testing.assert_array_equal(kept[0], expected)
    assert not kept[1].any()
    assert kept[2].sum() == 1 and kept[2, 1, 3, 5]
    assert kept[3].sum() == 1 and kept[3, 1, 3, 3]
    # one component per click: a second click on the second structure keeps it too
    two = seed_distances(plan, np.array([[3.0, 3.0, 1.0], [3.0, 7.0, 1.0]]), (1.0, 1.0, 1.0))
    assert keep_nearest_components(masks, two, radius_mm=4.0)[0, 1, 6:8, 3].all()
    # distances computed only near the seeds: the same within the radius, +inf or beyond it elsewhere, the same kept
    near = seed_distances(plan, np.array([[3.0, 3.0, 1.0], [3.0, 7.0, 1.0]]), (1.0, 1.0, 1.0), max_mm=4.0)
    within = two <= 4.0
    np.testing.assert_array_equal(near[within], two[within])
    assert (near[~within] > 4.0).all() and np.isinf(near).any()
    np.testing.assert_array_equal(keep_nearest_components(masks, near, 4.0), keep_nearest_components(masks, two, 4.0))
    off_box = seed_distances(plan, np.array([[30.0, 30.0, 1.0]]), (1.0, 1.0, 1.0), max_mm=4.0)
    assert np.isinf(off_box).all()  # a seed far outside the box: nothing within reach


def _profile_masks(areas: list[int]) -> np.ndarray:
    """(1, S, 40, 40): on slice s a centred square of about areas[s] pixels, all overlapping (one 3D component)."""
    out = np.zeros((1, len(areas), 40, 40), dtype=bool)
    for s, a in enumerate(areas):
        h = int(round(np.sqrt(a)))
        if h:
            out[0, s, 20 - h // 2 : 20 - h // 2 + h, 20 - h // 2 : 20 - h // 2 + h] = True
    return out


def test_a_candidate_is_cut_where_it_narrows_to_a_neck_and_widens_again():
    # clicked slice 3; above it the lesion narrows to a neck (4 px) and a second structure widens beyond it
    areas = [4, 25, 100, 144, 100, 16, 4, 36, 81, 81]
    cut = cut_at_necks(_profile_masks(areas), 3, 3, neck_fraction=0.25)
    assert cut[0].reshape(len(areas), -1).sum(1).tolist() == areas[:7] + [0, 0, 0]
    # a lesion that tapers off (no growth after the narrowing), or narrows only to 0.44 of its largest: kept whole
    for profile in ([9, 36, 100, 144, 100, 36, 16, 9, 4, 1], [64, 100, 144, 64, 100, 144]):
        np.testing.assert_array_equal(cut_at_necks(_profile_masks(profile), 2, 2, 0.25), _profile_masks(profile))
    # below the clicked slices too, and never inside them; neck_fraction 0 cuts nothing
    below = _profile_masks([81, 9, 49, 144, 4, 144])
    assert cut_at_necks(below, 3, 5, 0.25)[0].reshape(6, -1).sum(1).tolist() == [0, 9, 49, 144, 4, 144]
    np.testing.assert_array_equal(cut_at_necks(below, 3, 5, 0.0), below)


def test_clicked_lesion_cuts_at_the_neck_and_keeps_one_part():
    masks = _profile_masks([4, 25, 100, 144, 100, 16, 4, 36, 81, 81])
    plan = RoiPlan(tuple(range(10)), 0, 0, 40, 40, (20.0, 20.0, 3.0), "foreground")
    kept = clicked_lesion(masks, plan, np.array([[20.0, 20.0, 3.0]]), (1.0, 1.0, 2.0), 3.0, 0.25)
    assert kept[0].reshape(10, -1).sum(1).tolist() == [4, 25, 100, 144, 100, 16, 4, 0, 0, 0]


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


def test_seed_distances_are_physical():
    plan = RoiPlan((4, 5, 6), 0, 0, 20, 20, (10.0, 10.0, 5.0), "foreground")
    region = seed_distances(plan, np.array([[10.0, 10.0, 5.0]]), (0.5, 0.5, 2.5))[0] <= 3.0
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
    # the same as sampling every candidate on every slice, then keeping the clicked lesion: skipping a candidate past
    # its own end changes nothing
    from ssb_core.volume.streams import StreamSampler

    plan, settings = a.plan, GrowthSettings()
    assert a.presence.lesion and a.presence.redrawn == () and a.streams == (0, 1, 2)
    every = StreamSampler(tiny_pipeline, pre, vol, plan, config, None, 0, 5, 16).sample(plan.slices, a.streams)
    raw = np.stack([every[k] for k in plan.slices], axis=1)
    brute = clicked_lesion(raw, plan, click.seeds_ijk, (1.0, 1.0, 2.0), settings.seed_radius_mm, settings.neck_fraction)
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

    vol = 100.0 * blob((20, 96, 96), (10, 48, 48), 18.0, (2.0, 1.0, 1.0))  # 36 mm across; the window is 32 mm
    pre = _window()
    click = plan_roi(vol.shape, (1.0, 1.0, 2.0), pre, foreground=[[48, 48, 10]])
    config = tiny_pipeline.defaults.replace(num_candidates=4, nfe=2)
    scale, seen, clicked = choose_scale(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config, None, 0, GrowthSettings())
    # 48 mm holds it: every candidate votes there, so the coarser windows (which hold it too) are not tried
    assert [s["scale"] for s in seen] == [1.0, 1.5]
    assert seen[0]["touch_border"] == 4 and seen[0]["votes"] == 0 and seen[1]["votes"] == 4
    assert scale == 1.5
    # the scale sampled without the finer one before it draws the same candidates (the noise is not the batch's)
    alone = choose_scale(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config, None, 0, GrowthSettings(scales=(1.5, 3.0)))
    assert alone[0] == 1.5 and all(np.array_equal(alone[2][k], clicked[k]) for k in clicked)
    # a lesion larger than max_lesion_mm gets no vote at any scale: the finest, where it is not seen whole
    scale, seen, _ = choose_scale(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config, None, 0,
                                  GrowthSettings(max_lesion_mm=30.0))
    assert scale == 1.0 and all(s["votes"] == 0 for s in seen) and len(seen) == 4
    result = segment_lesion(tiny_pipeline, pre, vol, (1.0, 1.0, 2.0), click, config)
    assert result.scale == 1.5 and result.plan.nx == 48
    assert abs(result.masks[:, result.plan.slices.index(10)].sum(axis=(1, 2)).mean() - np.pi * 18**2) < 0.1 * np.pi * 18**2
    # nothing at the click at any scale: the finest, and nothing drawn
    empty = np.zeros((20, 96, 96))
    scale, seen, _ = choose_scale(tiny_pipeline, pre, empty, (1.0, 1.0, 2.0), click, config, None, 0, GrowthSettings())
    assert scale == 1.0 and all(s["drawn_by"] == 0 for s in seen)
