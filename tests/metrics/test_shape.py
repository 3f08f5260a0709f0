"""Shape figures on hand-made masks; each case would fail if the connectivity or the hole definition were another."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssb_core.metrics.shape import count_regions, has_holes, mask_set_shape, one_region_without_holes
from ssb_core.metrics.shape import reader_shape_metrics, shape_metrics, size_ratio


def disc(radius: float = 4, size: int = 15) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size // 2
    return (yy**2 + xx**2) <= radius**2


def ring() -> np.ndarray:
    return disc(5) & ~disc(2)


def square_ring_open_at_a_corner() -> np.ndarray:
    """A 5x5 square outline without its corner pixel: closed through a diagonal only."""
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True
    m[2:5, 2:5] = False
    m[1, 1] = False
    return m


def ball(radius: float, size: int = 13) -> np.ndarray:
    zz, yy, xx = np.mgrid[:size, :size, :size] - size // 2
    return (zz**2 + yy**2 + xx**2) <= radius**2


def tube() -> np.ndarray:
    """Rings stacked along axis 0: a hole in every axial slice, no enclosed cavity."""
    return np.repeat(ring()[None], 5, axis=0)


@pytest.mark.parametrize(
    "mask, regions, holes, reader_like",
    [
        (disc(), 1, False, True),
        (ring(), 1, True, False),
        # closed only through a corner: one 8-connected region whose inside cannot leave through the diagonal (4-conn)
        (square_ring_open_at_a_corner(), 1, True, False),
        # a C: the inside reaches the bounding box's border
        (ring() & ~(np.arange(15)[None, :] > 9), 1, False, True),
        # a U open at the array's edge is no hole either
        (np.pad(np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1]], bool), ((0, 2), (2, 2))), 1, False, True),
        # two squares touching at a corner: one region with 8-connectivity (two with 4)
        (np.kron(np.eye(2, dtype=bool), np.ones((3, 3), bool)), 1, False, True),
        (np.kron(np.array([[1, 0, 1]], bool), np.ones((3, 3), bool)), 2, False, False),
        (np.zeros((6, 6), bool), 0, False, False),
    ],
    ids=["disc", "ring", "ring-closed-through-a-corner", "C", "U-at-the-edge", "corner-touching", "two-blobs", "empty"],
)
def test_2d_regions_and_holes(mask, regions, holes, reader_like):
    assert count_regions(mask) == regions
    assert has_holes(mask) is holes
    assert one_region_without_holes(mask) is reader_like
    assert one_region_without_holes(torch.from_numpy(mask.astype(np.uint8))) is reader_like


def test_3d_cavities_slices_and_26_connectivity():
    hollow = ball(5) & ~ball(2)
    assert count_regions(hollow) == 1
    assert has_holes(hollow, "cavities") and has_holes(hollow, "slices")
    assert not one_region_without_holes(hollow)
    # a tube has a hole on every axial slice but encloses no cavity: the figures use the slices' definition
    assert not has_holes(tube(), "cavities") and has_holes(tube(), "slices")
    assert not one_region_without_holes(tube())
    # the axial axis matters: cut along x, the tube's slices are bars and rectangles
    assert not has_holes(tube(), "slices", slice_axis=-1) and one_region_without_holes(tube(), slice_axis=2)
    assert one_region_without_holes(ball(4))
    # two cubes touching at one corner only: one region with 26-connectivity (two with 6 or 18)
    cubes = np.zeros((4, 4, 4), bool)
    cubes[:2, :2, :2] = cubes[2:, 2:, 2:] = True
    assert count_regions(cubes) == 1
    assert count_regions(np.zeros((3, 3, 3))) == 0 and not one_region_without_holes(np.zeros((3, 3, 3)))


def test_set_figures_count_empty_masks_apart():
    masks = np.stack([disc(), ring(), np.zeros((15, 15), bool), disc(2)])
    shape = mask_set_shape(masks)
    assert (shape.num_masks, shape.num_empty, shape.num_one_region) == (4, 1, 2)
    assert shape.one_region == pytest.approx(2 / 3) and shape.empty == 0.25
    assert math.isnan(mask_set_shape(np.zeros((2, 4, 4))).one_region)


def test_size_ratio_and_per_image_figures():
    def squares(*sides: int) -> np.ndarray:
        out = np.zeros((len(sides), 8, 8), np.uint8)
        for k, s in enumerate(sides):
            out[k, :s, :s] = 1
        return out

    cands = squares(0, 2, 3, 4)  # non-empty areas 4, 9, 16: median 9
    readers = squares(0, 3, 6, 8)  # a present reader's empty mask is no size: median of 9, 36 = 22.5
    assert size_ratio(cands, readers[:3]) == pytest.approx(9 / 22.5)
    assert math.isnan(size_ratio(squares(0, 0), readers))
    figures = shape_metrics(cands, readers, reader_present=[True, True, True, False])  # the absent reader's mask is ignored
    assert figures == pytest.approx({"one_region": 1.0, "empty": 0.25, "area_ratio": 9 / 22.5})
    assert reader_shape_metrics(readers, [True, True, True, False]) == pytest.approx({"one_region": 1.0, "empty": 1 / 3})
    assert math.isnan(shape_metrics(cands, readers, [False] * 4)["area_ratio"])


def test_bad_inputs_name_what_came():
    with pytest.raises(ValueError, match=r"expected one mask of shape \(H, W\) or \(Z, Y, X\), got \(2, 3, 4, 5\)"):
        count_regions(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="kind: expected one of"):
        has_holes(disc(), "tunnels")
    with pytest.raises(ValueError, match="slice_axis: expected an axis"):
        has_holes(tube(), slice_axis=3)
    with pytest.raises(TypeError, match="got list"):
        count_regions([[0, 1]])
